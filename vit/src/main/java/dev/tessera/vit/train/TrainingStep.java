package dev.tessera.vit.train;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.optim.GradClip;
import dev.tessera.engine.optim.Optimizer;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.nn.Parameter;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import dev.tessera.vit.model.BatchChunks;
import dev.tessera.vit.model.DataParallel;
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
        int workers = DataParallel.training(vit, batch);
        int part = (batch + workers - 1) / workers;
        return run(vit, opt, ws, images, batch, labels, soft, smoothing, clipNorm, lr, seed,
                BatchChunks.imagesPerChunk(part, vit.config().tokens()), workers);
    }

    /** As below, on the calling thread's kernels alone: one worker. */
    public static Result run(VisionTransformer vit, Optimizer opt, Workspace ws, float[] images, int batch, int[] labels, float[] soft,
                             float smoothing, double clipNorm, float lr, long seed, int perChunk) {
        return run(vit, opt, ws, images, batch, labels, soft, smoothing, clipNorm, lr, seed, perChunk, 1);
    }

    /**
     * As above, {@code perChunk} images at a time. Each chunk's mean loss is weighted by its share of the batch, so
     * the gradient is the whole batch's; the loss reported is the batch mean. Dropout and stochastic depth draw from
     * the step's seed mixed with the chunk's first image index.
     *
     * <p>With {@code workers} above one, the batch is cut into that many contiguous parts, each run (a chunk at a time)
     * by one task of the kernel pool on single-threaded kernels, its own workspace and, past the first, its own
     * gradient buffers, which are added to the parameters' afterwards in worker order. See {@link DataParallel} for
     * why. The result depends on the number of workers (the order of the gradient sums), not on the threads' timing.
     */
    public static Result run(VisionTransformer vit, Optimizer opt, Workspace ws, float[] images, int batch, int[] labels, float[] soft,
                             float smoothing, double clipNorm, float lr, long seed, int perChunk, int workers) {
        if (perChunk < 1) throw new IllegalArgumentException("chunks of " + perChunk + " images");
        if (workers < 1) throw new IllegalArgumentException(workers + " workers");
        ViTConfig c = vit.config();
        int per = c.channels() * c.imageHeight() * c.imageWidth(), classes = c.numClasses();
        if (images.length != (long) batch * per) {
            throw new TensorException("training step: " + images.length + " floats are not " + batch + " images of ("
                    + c.channels() + ", " + c.imageHeight() + ", " + c.imageWidth() + ")");
        }
        if (soft != null && soft.length != (long) batch * classes) {
            throw new TensorException("training step: " + soft.length + " soft targets are not " + batch + " x " + classes);
        }
        if (labels != null && labels.length != batch) {
            throw new TensorException("training step: " + labels.length + " labels for " + batch + " images");
        }
        vit.parameters().zeroGrad();
        int parts = Math.max(1, Math.min(workers, batch));
        Part[] done = new Part[parts];
        List<Parameter> trainable = parts == 1 ? List.of() : vit.parameters().all().stream().filter(q -> q.grad() != null).toList();
        List<Map<Tensor, Tensor>> grads = new ArrayList<>(java.util.Collections.nCopies(parts, null));
        DataParallel.forEachWorker(ws, parts, (w, own) -> {
            Map<Tensor, Tensor> gradsOf = null;
            if (w > 0) {
                // Allocated by the worker that fills them, so that they start in its core's cache.
                own.reset();
                gradsOf = new IdentityHashMap<>();
                for (Parameter q : trainable) gradsOf.put(q.value(), own.zeros(q.value().shape()));
                grads.set(w, gradsOf);
            }
            done[w] = runPart(vit, own, gradsOf, images, DataParallel.share(batch, parts, w), DataParallel.share(batch, parts, w + 1),
                    batch, labels, soft, smoothing, seed, perChunk);
        });
        float lossSum = 0f;
        int correct = 0;
        Part bad = null;
        for (Part d : done) {
            lossSum += d.lossSum();
            correct += d.correct();
            if (bad == null && !Float.isFinite(d.firstBadLoss())) bad = d;
        }
        if (bad != null) return new Result(bad.firstBadLoss(), Double.NaN, correct);
        Kernels k = KernelProvider.get();
        for (int w = 1; w < parts; w++) {
            for (Parameter q : trainable) {
                Tensor g = q.grad(), r = grads.get(w).get(q.value());
                k.add(g.segment(), g.offset(), r.segment(), r.offset(), g.segment(), g.offset(), g.numel());
            }
        }
        double norm = GradClip.clipGlobalNorm(vit.parameters().all(), clipNorm > 0 ? clipNorm : Double.MAX_VALUE);
        if (Double.isFinite(norm)) opt.step(lr);
        return new Result(lossSum, norm, correct);
    }

    /** One worker's share of a step: its weighted losses summed, its correct argmaxes, a non-finite loss (else 0). */
    private record Part(float lossSum, int correct, float firstBadLoss) {}

    /**
     * Forward and backward of images [from, to) of the batch, a chunk at a time, gradients of the parameters into
     * {@code gradsOf}'s buffers (null: their own). Stops at the first non-finite loss, before its backward.
     */
    private static Part runPart(VisionTransformer vit, Workspace ws, Map<Tensor, Tensor> gradsOf, float[] images, int from, int to,
                                int batch, int[] labels, float[] soft, float smoothing, long seed, int perChunk) {
        ViTConfig c = vit.config();
        int per = c.channels() * c.imageHeight() * c.imageWidth(), classes = c.numClasses();
        float lossSum = 0f;
        int correct = 0;
        Workspace.Mark start = ws.mark();
        for (int i0 = from; i0 < to; i0 += perChunk) {
            int n = Math.min(perChunk, to - i0);
            Tape tape = gradsOf == null ? Tape.training(ws) : Tape.training(ws, gradsOf);
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
                if (!Float.isFinite(l)) return new Part(lossSum, correct, l);
                tape.backward(loss);
            } finally {
                ws.release(start);
            }
        }
        return new Part(lossSum, correct, 0f);
    }
}
