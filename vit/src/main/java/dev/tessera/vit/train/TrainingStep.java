package dev.tessera.vit.train;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.optim.GradClip;
import dev.tessera.engine.optim.Optimizer;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;

/**
 * One optimisation step: forward on a training tape, cross-entropy (label smoothing, or soft targets from Mixup and
 * CutMix; plus lambda times DRLoc's loss when the model has it), backward, clipping at global norm, then the
 * optimizer at the given learning rate. The trainer runs it for every batch, and the whole-model test runs it
 * against PyTorch's trajectory, so both exercise the same code.
 *
 * <p>A non-finite loss returns before backward and a non-finite gradient norm before the optimizer, leaving the
 * weights untouched: the caller decides what to say and what to keep.
 */
public final class TrainingStep {
    private TrainingStep() {}

    /** The loss before the update, the gradient norm before clipping (NaN if not reached), correct argmaxes. */
    public record Result(float loss, double gradNorm, int correct) {}

    /**
     * images: (B, C, H, W) normalised, flat; labels: B class indices (used for accuracy, and for the loss when soft is
     * null); soft: (B, classes) targets or null. clipNorm <= 0 means no clipping.
     */
    public static Result run(VisionTransformer vit, Optimizer opt, Workspace ws, float[] images, int batch, int[] labels, float[] soft,
                             float smoothing, double clipNorm, float lr, long seed) {
        ViTConfig c = vit.config();
        Tape tape = Tape.training(ws);
        try {
            vit.parameters().zeroGrad();
            Tensor x = ws.allocate(batch, c.channels(), c.imageHeight(), c.imageWidth()).copyFrom(images);
            VisionTransformer.Output fwd = vit.forwardWithTokens(tape, x, seed);
            Tensor logits = fwd.logits();
            Tensor target = soft == null ? null : ws.allocate(batch, c.numClasses()).copyFrom(soft);
            Tensor loss = Ops.crossEntropy(tape, logits, labels, target, smoothing);
            // DRLoc: loss + lambda * L1 of the relative positions regressed from token pairs.
            if (c.drloc() > 0) loss = Ops.add(tape, loss, Ops.scale(tape, vit.drlocLoss(tape, fwd.tokens(), seed ^ 0x2545F4914F6CDD1DL), c.drloc()));
            float l = loss.getFlat(0);
            int correct = labels == null ? 0 : Trainer.countCorrect(logits, labels);
            if (!Float.isFinite(l)) return new Result(l, Double.NaN, correct);
            tape.backward(loss);
            double norm = GradClip.clipGlobalNorm(vit.parameters().all(), clipNorm > 0 ? clipNorm : Double.MAX_VALUE);
            if (Double.isFinite(norm)) opt.step(lr);
            return new Result(l, norm, correct);
        } finally {
            tape.reset();
        }
    }
}
