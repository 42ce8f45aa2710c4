package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.optim.AdamW;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.BatchChunks;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.FineTune;
import dev.tessera.vit.train.TrainingStep;
import java.util.Random;
import net.jqwik.api.*;
import org.junit.jupiter.api.Test;

/**
 * A batch taken a chunk at a time ({@link BatchChunks}) is the same computation as the whole batch: the training step's
 * loss, gradient norm, accuracy and gradients, and the inference logits.
 */
class BatchChunksTest {
    private static final ViTConfig CONFIG = ViTConfig.of(12, 8, 1, 4, 16, 2, 2, 24, 5);

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    private static boolean close(double got, double want, double atol, double rtol) {
        return Math.abs(got - want) <= atol + rtol * Math.abs(want);
    }

    @Property(tries = 16)
    void aChunkedStepIsTheWholeBatchStep(@ForAll("batches") int batch, @ForAll("chunks") int perChunk, @ForAll("workers") int workers,
                                         @ForAll boolean mixing, @ForAll boolean smallDataMethods) {
        ViTConfig c = CONFIG.withSmallDataMethods(smallDataMethods, smallDataMethods);
        int per = c.channels() * c.imageHeight() * c.imageWidth();
        float[] images = random(batch * per, batch);
        int[] labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = (i * 7 + 3) % c.numClasses();
        float[] soft = null;
        if (mixing) {
            soft = new float[batch * c.numClasses()];
            for (int i = 0; i < batch; i++) { soft[i * c.numClasses() + labels[i]] = 0.7f; soft[i * c.numClasses() + (labels[i] + 1) % c.numClasses()] = 0.3f; }
        }
        try (VisionTransformer whole = new VisionTransformer(c, 3); VisionTransformer chunked = new VisionTransformer(c, 4);
             Workspace ws = new Workspace()) {
            FineTune.copyAll(whole, chunked);
            AdamW a = new AdamW(whole.parameters(), 0.9f, 0.999f, 1e-8f, 0.05f), b = new AdamW(chunked.parameters(), 0.9f, 0.999f, 1e-8f, 0.05f);
            for (int step = 0; step < 2; step++) {
                TrainingStep.Result w = TrainingStep.run(whole, a, ws, images, batch, labels, soft, 0.1f, 1.0, 1e-2f, step, batch);
                TrainingStep.Result k = TrainingStep.run(chunked, b, ws, images, batch, labels, soft, 0.1f, 1.0, 1e-2f, step, perChunk, workers);
                assertTrue(close(k.loss(), w.loss(), 1e-6, 1e-5), "loss " + k.loss() + " vs " + w.loss());
                assertTrue(close(k.gradNorm(), w.gradNorm(), 1e-6, 1e-4), "gradient norm " + k.gradNorm() + " vs " + w.gradNorm());
                assertEquals(w.correct(), k.correct());
            }
            // Gradients of the last step, not the weights: the key bias has a gradient of exactly zero in exact
            // arithmetic (softmax ignores a shift shared by all keys), so its rounding noise, which AdamW scales up to
            // steps of the learning rate, differs between any two summation orders.
            var pa = whole.parameters().all();
            var pb = chunked.parameters().all();
            double scale = 0;
            for (var q : pa) for (float g : q.grad().toArray()) scale = Math.max(scale, Math.abs(g));
            for (int p = 0; p < pa.size(); p++) {
                float[] gw = pa.get(p).grad().toArray(), gk = pb.get(p).grad().toArray();
                for (int i = 0; i < gw.length; i++) {
                    assertTrue(close(gk[i], gw[i], 1e-5 * scale, 1e-3), pa.get(p).name() + ".grad[" + i + "]: " + gk[i] + " vs " + gw[i]);
                }
            }
        }
    }

    @Provide
    Arbitrary<Integer> batches() { return Arbitraries.of(1, 2, 7, 16, 17); }

    @Provide
    Arbitrary<Integer> chunks() { return Arbitraries.of(1, 3, 16); }

    /** Parts of the batch run by separate workers, each into its own gradient buffers (more than 2 images per part or not). */
    @Provide
    Arbitrary<Integer> workers() { return Arbitraries.of(1, 2, 3); }

    /**
     * A non-finite loss in any worker's part stops the step before the update: the weights stay as they were, and the
     * result says so. The images of the last part are NaN, so only the last worker meets it.
     */
    @Test
    void aNonFiniteLossInOneWorkerLeavesTheWeightsAlone() {
        int batch = 12, per = CONFIG.channels() * CONFIG.imageHeight() * CONFIG.imageWidth();
        float[] images = random(batch * per, 11);
        java.util.Arrays.fill(images, 8 * per, batch * per, Float.NaN);
        int[] labels = new int[batch];
        try (VisionTransformer vit = new VisionTransformer(CONFIG, 6); Workspace ws = new Workspace()) {
            AdamW opt = new AdamW(vit.parameters(), 0.9f, 0.999f, 1e-8f, 0.05f);
            java.util.List<float[]> before = vit.parameters().all().stream().map(p -> p.value().toArray()).toList();
            TrainingStep.Result r = TrainingStep.run(vit, opt, ws, images, batch, labels, null, 0.1f, 1.0, 1e-2f, 0, 2, 3);
            assertTrue(Float.isNaN(r.loss()), "loss " + r.loss());
            assertTrue(Double.isNaN(r.gradNorm()), "gradient norm " + r.gradNorm());
            for (int p = 0; p < before.size(); p++) assertArrayEquals(before.get(p), vit.parameters().all().get(p).value().toArray());
            // The same workspace serves a finite step afterwards.
            java.util.Arrays.fill(images, 8 * per, batch * per, 0.5f);
            assertTrue(Float.isFinite(TrainingStep.run(vit, opt, ws, images, batch, labels, null, 0.1f, 1.0, 1e-2f, 1, 2, 3).loss()));
        }
    }

    @Test
    void chunkedInferenceGivesTheWholeBatchLogits() {
        int tokens = CONFIG.tokens(), batch = 2 * BatchChunks.imagesPerChunk(1 << 20, tokens) + 5;
        assertTrue(BatchChunks.imagesPerChunk(batch, tokens) < batch, "the batch must be split for this test to mean anything");
        int per = CONFIG.channels() * CONFIG.imageHeight() * CONFIG.imageWidth();
        float[] images = random(batch * per, 9);
        try (VisionTransformer vit = new VisionTransformer(CONFIG, 5); Workspace ws = new Workspace()) {
            Tape tape = Tape.inference(ws);
            Tensor x = ws.allocate(batch, 1, CONFIG.imageHeight(), CONFIG.imageWidth()).copyFrom(images);
            float[] chunked = vit.forward(tape, x, 0).toArray();
            float[] whole = vit.forwardWithTokens(tape, x, 0).logits().toArray();
            tape.reset();
            assertEquals(whole.length, chunked.length);
            for (int i = 0; i < whole.length; i++) assertTrue(close(chunked[i], whole[i], 1e-5, 1e-5), "logit " + i + ": " + chunked[i] + " vs " + whole[i]);
        }
    }

    /**
     * A step split between workers is a function of its inputs and the worker count, not of which thread ran which
     * part when: two runs from the same weights give the same gradients bit for bit (a resumed run relies on it).
     */
    @Test
    void workerStepsRepeatBitForBit() {
        int batch = 13, per = CONFIG.channels() * CONFIG.imageHeight() * CONFIG.imageWidth();
        float[] images = random(batch * per, 14);
        int[] labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = i % CONFIG.numClasses();
        java.util.List<float[]> first = null;
        for (int run = 0; run < 2; run++) {
            try (VisionTransformer vit = new VisionTransformer(CONFIG, 8); Workspace ws = new Workspace()) {
                AdamW opt = new AdamW(vit.parameters(), 0.9f, 0.999f, 1e-8f, 0.05f);
                for (int step = 0; step < 3; step++) TrainingStep.run(vit, opt, ws, images, batch, labels, null, 0.1f, 1.0, 1e-2f, step, 2, 3);
                java.util.List<float[]> grads = vit.parameters().all().stream().map(p -> p.grad().toArray()).toList();
                if (first == null) first = grads;
                else for (int p = 0; p < grads.size(); p++) assertArrayEquals(first.get(p), grads.get(p), vit.parameters().all().get(p).name());
            }
        }
    }

    /**
     * Chunks handed to other workers run on the caller's tape's kernels, not the provider's: with the scalar reference
     * kernels, every chunk's logits are bit for bit those of the chunk run alone on them.
     */
    @Test
    void chunkWorkersKeepTheTapesKernels() {
        int tokens = CONFIG.tokens(), per = BatchChunks.imagesPerChunk(1 << 20, tokens), batch = 3 * per;
        assertTrue(BatchChunks.imagesPerChunk(batch, tokens) == per, "three chunks of " + per);
        int size = CONFIG.channels() * CONFIG.imageHeight() * CONFIG.imageWidth();
        float[] images = random(batch * size, 12);
        try (VisionTransformer vit = new VisionTransformer(CONFIG, 7); Workspace ws = new Workspace()) {
            Tape tape = Tape.of(ws, false, dev.tessera.Fixtures.REF);
            Tensor x = ws.allocate(batch, 1, CONFIG.imageHeight(), CONFIG.imageWidth()).copyFrom(images);
            float[] chunked = vit.forward(tape, x, 0).toArray();
            for (int i0 = 0; i0 < batch; i0 += per) {
                float[] alone = vit.forwardWithTokens(tape, x.slice(0, i0, i0 + per), 0).logits().toArray();
                float[] got = java.util.Arrays.copyOfRange(chunked, i0 * CONFIG.numClasses(), (i0 + per) * CONFIG.numClasses());
                assertArrayEquals(alone, got, "chunk at image " + i0);
            }
            tape.reset();
        }
    }

    @Test
    void chunksAreNearTheTargetAndCoverTheBatch() {
        assertEquals(1, BatchChunks.imagesPerChunk(1, 50));
        // Two chunks' worth of 50-token images (40 with 1 MiB of L2, 20 with 512 KiB) stays whole; one more is split.
        int two = 2 * Math.max(1, BatchChunks.tokensPerChunk() / 50);
        assertEquals(two, BatchChunks.imagesPerChunk(two, 50), "a batch of two chunks stays whole");
        assertTrue(BatchChunks.imagesPerChunk(two + 1, 50) < two + 1, "a batch of more than two chunks is split");
        for (int batch : new int[] {1, 7, 128, 500, 4096}) {
            for (int tokens : new int[] {1, 10, 50, 197}) {
                int per = BatchChunks.imagesPerChunk(batch, tokens);
                assertTrue(per >= 1 && per <= batch, batch + " images of " + tokens + " tokens: " + per);
            }
        }
        assertTrue(BatchChunks.imagesPerChunk(4096, 50) < 4096);
    }
}
