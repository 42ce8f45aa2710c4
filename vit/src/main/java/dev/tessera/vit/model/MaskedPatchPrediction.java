package dev.tessera.vit.model;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.nn.Linear;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * The ViT paper's self-supervised objective (appendix B.1.2): corrupt half of the patch embeddings
 * ({@link PatchCorruption}: 80% a learnable [mask] embedding, 10% another patch, 10% unchanged) and predict each
 * corrupted patch's 3-bit mean colour from its final token, cross-entropy on the corrupted positions only. Its mask
 * embedding and head live in the model's parameter set under "mpp.", which fine-tuning ignores.
 */
public final class MaskedPatchPrediction {
    private final VisionTransformer vit;
    private final Parameter maskToken;
    private final Linear head;
    private final int classes;

    public MaskedPatchPrediction(VisionTransformer vit) {
        this.vit = vit;
        ViTConfig c = vit.config();
        this.classes = 1 << (3 * c.channels());
        this.maskToken = vit.parameters().truncNormal("mpp.mask_token", false, 0.02f, 1, c.dim());
        this.head = new Linear(vit.parameters(), "mpp.head", c.dim(), classes, true);
    }

    public int classes() { return classes; }

    /** The loss and how many corrupted patches the head got right. */
    public record Step(Tensor loss, long correct, long predicted) {}

    /**
     * images: normalised (B, C, H, W); pixels: the same images in [0, 1], flat, for the targets. The corruption is drawn
     * from {@code seed}.
     */
    public Step loss(Tape tape, Tensor images, float[] pixels, long seed) {
        ViTConfig c = vit.config();
        int b = images.dim(0), n = c.patches(), d = c.dim();
        PatchCorruption.Draw draw = PatchCorruption.draw(b, n, new SplittableRandom(seed));
        int[] targets = PatchCorruption.targets(pixels, b, c.channels(), c.imageHeight(), c.imageWidth(), c.patch());
        int[] index = new int[b * n];
        for (int r = 0; r < index.length; r++) index[r] = draw.source()[r] == PatchCorruption.MASK ? b * n : draw.source()[r];
        VisionTransformer.Output out = vit.forwardWithTokens(tape, images, seed, x -> {
            // Rows of (B*N, D) plus the mask embedding as row B*N, gathered by source: gradients reach both.
            Tensor table = Ops.concat(tape, 0, Ops.reshape(tape, x, b * n, d), maskToken.value());
            return Ops.reshape(tape, Ops.gatherRows(tape, table, index), b, n, d);
        });
        int skip = c.tokens() - n, count = 0;
        for (boolean k : draw.corrupted()) if (k) count++;
        int[] rows = new int[count], labels = new int[count];
        int t = c.tokens();
        for (int r = 0, k = 0; r < b * n; r++) {
            if (!draw.corrupted()[r]) continue;
            rows[k] = (r / n) * t + skip + r % n;
            labels[k++] = targets[r];
        }
        Tensor tokens = Ops.reshape(tape, out.tokens(), b * t, d);
        Tensor logits = head.forward(tape, Ops.gatherRows(tape, tokens, rows));
        Tensor loss = Ops.crossEntropy(tape, logits, labels, null, 0f);
        float[] l = logits.toArray();
        long correct = 0;
        for (int i = 0; i < count; i++) {
            int best = 0;
            for (int j = 1; j < classes; j++) if (l[i * classes + j] > l[i * classes + best]) best = j;
            if (best == labels[i]) correct++;
        }
        return new Step(loss, correct, count);
    }
}
