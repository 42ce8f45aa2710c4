package dev.tessera.vit.train;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.optim.GradClip;
import dev.tessera.engine.optim.Optimizer;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.BatchChunks;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One optimisation step: forward on a training tape, cross-entropy (label smoothing, or soft targets from Mixup and
 * CutMix; plus lambda times DRLoc's loss when the model has it), backward, clipping at global norm, then the
 * optimizer at the given learning rate. The trainer runs it for every batch, and the whole-model test runs it
 * against PyTorch's trajectory, so both exercise the same code.
 *
 * <p>A non-finite loss returns before its backward and a non-finite gradient norm before the optimizer, leaving the
 * weights untouched: the caller decides what to say and what to keep.
 */
public final class TrainingStep {
    private TrainingStep() {}

    /** The loss before the update, the gradient norm before clipping (NaN if not reached), correct argmaxes. */
    public record Result(float loss, double gradNorm, int correct) {}

    /**
     * images: (B, C, H, W) normalised, flat; labels: B class indices (used for accuracy, and for the loss when soft is
     * null); soft: (B, classes) targets or null. clipNorm <= 0 means no clipping. The batch goes through forward and
     * backward a chunk at a time ({@link BatchChunks}), gradients accumulating, then one optimizer step.
     */
    public static Result run(VisionTransformer vit, Optimizer opt, Workspace ws, float[] images, int batch, int[] labels, float[] soft,
                             float smoothing, double clipNorm, float lr, long seed) {
        return run(vit, opt, ws, images, batch, labels, soft, smoothing, clipNorm, lr, seed,
                BatchChunks.imagesPerChunk(batch, vit.config().tokens()));
    }

    /**
     * As above, {@code perChunk} images at a time. Each chunk's mean loss is weighted by its share of the batch, so
     * the gradient is the whole batch's; the loss reported is the batch mean. Dropout and stochastic depth draw from
     * the step's seed mixed with the chunk's first image index.
     */
    public static Result run(VisionTransformer vit, Optimizer opt, Workspace ws, float[] images, int batch, int[] labels, float[] soft,
                             float smoothing, double clipNorm, float lr, long seed, int perChunk) {
        if (perChunk < 1) throw new IllegalArgumentException("chunks of " + perChunk + " images");
        ViTConfig c = vit.config();
        int per = c.channels() * c.imageHeight() * c.imageWidth(), classes = c.numClasses();
        if (images.length != (long) batch * per) {
            throw new TensorException("training step: " + images.length + " floats are not " + batch + " images of ("
                    + c.channels() + ", " + c.imageHeight() + ", " + c.imageWidth() + ")");
        }
        if (soft != null && soft.length != (long) batch * classes) {
            throw new TensorException("training step: " + soft.length + " soft targets are not " + batch + " x " + classes);
        }
        vit.parameters().zeroGrad();
        float lossSum = 0f;
        int correct = 0;
        for (int i0 = 0; i0 < batch; i0 += perChunk) {
            int n = Math.min(perChunk, batch - i0);
            Tape tape = Tape.training(ws);
            try {
                // A whole batch in one chunk keeps the seed as it was, so that the step is the same function as before.
                long chunkSeed = i0 == 0 ? seed : seed * 0x9E3779B97F4A7C15L + i0;
                Tensor x = ws.allocate(n, c.channels(), c.imageHeight(), c.imageWidth());
                MemorySegment.copy(images, i0 * per, x.segment(), ValueLayout.JAVA_FLOAT, x.offset() * Float.BYTES, n * per);
                VisionTransformer.Output fwd = vit.forwardWithTokens(tape, x, chunkSeed);
                Tensor logits = fwd.logits();
                Tensor target = null;
                if (soft != null) {
                    target = ws.allocate(n, classes);
                    MemorySegment.copy(soft, i0 * classes, target.segment(), ValueLayout.JAVA_FLOAT, target.offset() * Float.BYTES, n * classes);
                }
                int[] chunkLabels = labels == null || n == batch ? labels : java.util.Arrays.copyOfRange(labels, i0, i0 + n);
                Tensor loss = Ops.crossEntropy(tape, logits, chunkLabels, target, smoothing);
                // DRLoc: loss + lambda * L1 of the relative positions regressed from token pairs.
                if (c.drloc() > 0) loss = Ops.add(tape, loss, Ops.scale(tape, vit.drlocLoss(tape, fwd.tokens(), chunkSeed ^ 0x2545F4914F6CDD1DL), c.drloc()));
                if (n < batch) loss = Ops.scale(tape, loss, (float) n / batch);
                float l = loss.getFlat(0);
                lossSum += l;
                if (chunkLabels != null) correct += Trainer.countCorrect(logits, chunkLabels);
                if (!Float.isFinite(l)) return new Result(l, Double.NaN, correct);
                tape.backward(loss);
            } finally {
                tape.reset();
            }
        }
        double norm = GradClip.clipGlobalNorm(vit.parameters().all(), clipNorm > 0 ? clipNorm : Double.MAX_VALUE);
        if (Double.isFinite(norm)) opt.step(lr);
        return new Result(lossSum, norm, correct);
    }
}
