package dev.tessera.vit.model;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.nn.Linear;
import dev.tessera.engine.nn.ParameterSet;
import dev.tessera.engine.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * DRLoc, the dense relative localisation loss of Liu et al. 2021: from the final k x k grid of patch tokens, sample
 * m pairs per image; an MLP (2D -> 512 -> 512 -> 2, ReLU) regresses (|du| / k, |dv| / k) from the pair's two
 * embeddings, under an L1 loss. It asks the tokens to know where they are, which ViTs trained on little data lack.
 */
public final class RelativeLocalization {
    public static final int PAIRS = 64, HIDDEN = 512;

    private final Linear fc1, fc2, fc3;

    RelativeLocalization(ParameterSet ps, int dim) {
        fc1 = new Linear(ps, "drloc.fc1", 2 * dim, HIDDEN, true);
        fc2 = new Linear(ps, "drloc.fc2", HIDDEN, HIDDEN, true);
        fc3 = new Linear(ps, "drloc.fc3", HIDDEN, 2, true);
    }

    /** The sampled pairs of one batch: token rows a and b into (B*T, D), and their targets (|du|/k, |dv|/k) per pair. */
    public record Pairs(int[] a, int[] b, float[] target) {}

    /** m pairs per image of patch positions (extra tokens skipped), drawn from rng; targets from the grid positions. */
    public static Pairs sample(int batch, int tokens, int extra, int gridH, int gridW, int m, SplittableRandom rng) {
        int[] a = new int[batch * m], b = new int[batch * m];
        float[] t = new float[2 * batch * m];
        int patches = gridH * gridW;
        for (int n = 0; n < batch; n++) {
            for (int k = 0; k < m; k++) {
                int i = rng.nextInt(patches), j = rng.nextInt(patches), r = n * m + k;
                a[r] = n * tokens + extra + i;
                b[r] = n * tokens + extra + j;
                t[2 * r] = Math.abs(i / gridW - j / gridW) / (float) gridH;
                t[2 * r + 1] = Math.abs(i % gridW - j % gridW) / (float) gridW;
            }
        }
        return new Pairs(a, b, t);
    }

    /** tokens (B, T, D) -> the mean L1 loss over the sampled pairs, a scalar. */
    public Tensor loss(Tape tape, Tensor tokens, Pairs pairs) {
        int b = tokens.dim(0), t = tokens.dim(1), d = tokens.dim(2);
        Tensor rows = Ops.reshape(tape, tokens, b * t, d);
        Tensor x = Ops.concat(tape, 1, Ops.gatherRows(tape, rows, pairs.a()), Ops.gatherRows(tape, rows, pairs.b()));  // (P, 2D)
        Tensor h = fc1.forward(tape, x, Activation.RELU, null);
        h = fc2.forward(tape, h, Activation.RELU, null);
        return Ops.l1Loss(tape, fc3.forward(tape, h), pairs.target());
    }
}
