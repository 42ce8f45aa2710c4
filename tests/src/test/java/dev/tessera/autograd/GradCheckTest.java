package dev.tessera.autograd;

import static dev.tessera.autograd.GradCheck.check;
import static dev.tessera.autograd.GradCheck.input;

import dev.tessera.Fixtures;
import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import net.jqwik.api.*;

/** Every op with a backward, checked by central differences on odd shapes. */
class GradCheckTest {

    @Provide
    Arbitrary<Integer> small() { return Arbitraries.of(1, 2, 3, 5, Fixtures.LANES + 1); }

    @Property(tries = 12)
    void linearWithEpilogues(@ForAll("small") int rows, @ForAll("small") int in, @ForAll("small") int out, @ForAll Activation act, @ForAll boolean residual) {
        Assume.that(act != Activation.RELU); // its kink at 0 defeats central differences; see reluAwayFromItsKink
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, rows, in), w = input(a, 2, in, out), b = input(a, 3, out), res = residual ? input(a, 4, rows, out) : null;
            if (residual) check("linear " + act + " +res", (t, i) -> Ops.linear(t, i[0], i[1], i[2], act, i[3]), x, w, b, res);
            else check("linear " + act, (t, i) -> Ops.linear(t, i[0], i[1], i[2], act, null), x, w, b);
        }
    }

    /**
     * One input read by two linears and as a residual, the second taking the first's output as its residual: the
     * first gradient to reach a tensor is written, later ones added, and a residual takes over its output's gradient.
     * The order of the backward closures decides which of these happens where; every one must add up.
     */
    @Property(tries = 10)
    void linearsSharingInputsAndResiduals(@ForAll("small") int rows, @ForAll("small") int d, @ForAll boolean act) {
        Activation f = act ? Activation.GELU : Activation.NONE;
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, rows, d), w1 = input(a, 2, d, d), w2 = input(a, 3, d, d), b = input(a, 4, d);
            check("shared linears " + f, (t, i) -> {
                Tensor y1 = Ops.linear(t, i[0], i[1], i[3], f, i[0]);      // x is input and residual
                return Ops.linear(t, i[0], i[2], i[3], Activation.NONE, y1); // x again; y1 passes its gradient on
            }, x, w1, w2, b);
        }
    }

    /** W stored (out, in), PyTorch's layout, as imported checkpoints keep it: the same op with the other GEMMs. */
    @Property(tries = 10)
    void linearWithWeightsStoredOutIn(@ForAll("small") int rows, @ForAll("small") int in, @ForAll("small") int out, @ForAll boolean residual) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, rows, in), w = input(a, 2, out, in), b = input(a, 3, out), res = residual ? input(a, 4, rows, out) : null;
            if (residual) check("linear outIn +res", (t, i) -> Ops.linear(t, i[0], i[1], true, i[2], Activation.GELU, i[3]), x, w, b, res);
            else check("linear outIn", (t, i) -> Ops.linear(t, i[0], i[1], true, i[2], Activation.NONE, null), x, w, b);
        }
    }

    @Property(tries = 10)
    void layerNorm(@ForAll("small") int rows, @ForAll("small") int d) {
        Assume.that(d > 1);
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, rows, d), g = input(a, 2, d), b = input(a, 3, d);
            check("layerNorm", (t, i) -> Ops.layerNorm(t, i[0], i[1], i[2], 1e-5f), 1e-2, 5e-3, 5e-2, x, g, b);
        }
    }

    @Property(tries = 10)
    void activationsAndSoftmax(@ForAll("small") int rows, @ForAll("small") int d, @ForAll Activation act) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, rows, d);
            // Central differences 1e-2 either side of ReLU's kink average its two slopes: keep inputs off it.
            for (long i = 0; i < x.numel(); i++) {
                float v = x.getFlat(i);
                if (Math.abs(v) < 0.05f) x.setFlat(i, v < 0 ? -0.05f : 0.05f);
            }
            check("activation " + act, (t, i) -> Ops.activation(t, i[0], act), x);
            check("softmax", (t, i) -> Ops.softmax(t, i[0]), x);
        }
    }

    @Property(tries = 10)
    void elementwiseAndReductions(@ForAll("small") int b, @ForAll("small") int n, @ForAll("small") int d) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, b, n, d), y = input(a, 2, b, n, d), pos = input(a, 3, n, d);
            check("add", (t, i) -> Ops.add(t, i[0], i[1]), x, y);
            check("add broadcast", (t, i) -> Ops.add(t, i[0], i[1]), x, pos);
            check("mul", (t, i) -> Ops.mul(t, i[0], i[1]), x, y);
            check("scale", (t, i) -> Ops.scale(t, i[0], -1.5f), x);
            check("mean axis 1", (t, i) -> Ops.mean(t, i[0], 1), x);
            check("sum axis 2", (t, i) -> Ops.sum(t, i[0], 2), x);
            check("dropout", (t, i) -> Ops.dropout(t, i[0], 0.3f, 99), x);
        }
    }

    @Property(tries = 10)
    void shapeOps(@ForAll("small") int b, @ForAll("small") int n, @ForAll("small") int d) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 1, b, n, d), cls = input(a, 2, b, 1, d);
            check("permute", (t, i) -> Ops.permute(t, i[0], 2, 0, 1), x);
            check("reshape", (t, i) -> Ops.reshape(t, i[0], -1, d), x);
            check("slice", (t, i) -> Ops.slice(t, i[0], 1, n / 2, n), x);
            check("concat", (t, i) -> Ops.concat(t, 1, i[1], i[0]), x, cls);
            int[] idx = {b - 1, 0, b - 1};
            check("gatherRows", (t, i) -> Ops.gatherRows(t, i[0], idx), x);
        }
    }

    @Property(tries = 10)
    void attentionWithMaskAndLearnableScale(@ForAll("small") int n, @ForAll boolean diagonalMask) {
        Assume.that(!diagonalMask || n > 1);
        int b = 2, h = 2, d = 3;
        try (Arena a = Arena.ofShared()) {
            Tensor qkv = input(a, 1, b, n, 3 * h * d);
            Tensor scale = Tensor.of(a, new float[] {0.5f, 0.8f}, h).requiresGrad(true);
            Tensor mask = diagonalMask ? Tensor.zeros(a, n, n) : null;
            if (mask != null) for (int i = 0; i < n; i++) mask.set(Float.NEGATIVE_INFINITY, i, i);
            check("attention", (t, i) -> Ops.attention(t, i[0], h, i[1], mask), qkv, scale);
            // Dropout's mask is a hash of (seed, head, i, j): the same in every evaluation, so differences apply.
            check("attention with dropout", (t, i) -> Ops.attention(t, i[0], h, i[1], mask, 0.3f, 11L), qkv, scale);
        }
    }

    @Property(tries = 10)
    void crossEntropy(@ForAll("small") int rows, @ForAll("small") int classes, @ForAll boolean soft, @ForAll boolean smooth) {
        try (Arena a = Arena.ofShared()) {
            Tensor logits = input(a, 1, rows, classes);
            int[] labels = new int[rows];
            for (int i = 0; i < rows; i++) labels[i] = (3 * i + 1) % classes;
            Tensor target = null;
            if (soft) {
                target = Tensor.zeros(a, rows, classes);
                for (int i = 0; i < rows; i++) for (int j = 0; j < classes; j++) target.set(1f / classes, i, j);
            }
            Tensor tg = target;
            float eps = smooth ? 0.1f : 0f;
            check("crossEntropy", (t, i) -> Ops.crossEntropy(t, i[0], labels, tg, eps), logits);
        }
    }

    @Property(tries = 8)
    void reluAwayFromItsKink(@ForAll("small") int rows, @ForAll("small") int cols) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 5, rows, cols);
            for (long i = 0; i < x.numel(); i++) x.setFlat(i, x.getFlat(i) + Math.copySign(0.3f, x.getFlat(i)));
            check("relu", (t, i) -> Ops.activation(t, i[0], Activation.RELU), x);
        }
    }

    @Property(tries = 8)
    void l1LossAwayFromItsKink(@ForAll("small") int rows, @ForAll("small") int cols) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = input(a, 6, rows, cols);
            float[] target = new float[rows * cols];
            for (int i = 0; i < target.length; i++) target[i] = x.getFlat(i) + (i % 2 == 0 ? 0.5f : -0.5f);
            check("l1", (t, i) -> Ops.l1Loss(t, i[0], target), x);
        }
    }
}
