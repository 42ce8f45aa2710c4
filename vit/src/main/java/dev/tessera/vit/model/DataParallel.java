package dev.tessera.vit.model;

import dev.tessera.engine.kernels.Parallel;

/**
 * How many workers a batch is split between, each running its part a chunk at a time ({@link BatchChunks}) on
 * single-threaded kernels, instead of every kernel splitting itself over the pool.
 *
 * <p>Why: a small model's step is hundreds of sub-millisecond kernels per chunk (the D = 128 benchmark model: about 900
 * GEMMs of 500 rows). Split one by one, each paid a fork and a join, its halves ended unequal on a shared VM, and
 * each op read the other core's half of the previous op's output: JFR of that training step had the second core idle
 * in a quarter of its samples. Whole chunks per core leave one join per batch and keep a chunk's activations in the
 * cache of the core that made them. Models with more than {@link #MAX_PARAMETERS} parameters (ViT-B and up) keep
 * splitting each kernel: training would pay a second set of gradient buffers per extra worker, and inference would
 * stream every weight from memory once per worker (ViT-B/16 at batch 8 on two threads, side by side: 2434 / 2707 ms
 * best / median split by chunks against 2298 / 2762 split by kernels).
 *
 * <p>{@code -Dtessera.dataParallel=false} turns it off, for comparisons.
 */
public final class DataParallel {
    private static final boolean ENABLED = !"false".equals(System.getProperty("tessera.dataParallel"));
    /** Parameters above which the model keeps splitting every kernel (see above). */
    public static final long MAX_PARAMETERS = 16L << 20;

    private DataParallel() {}

    /**
     * Workers for a training step of {@code batch} images on the calling thread's pool: 1 (every kernel splits itself)
     * unless each worker gets at least a chunk's worth of tokens.
     */
    public static int training(VisionTransformer vit, int batch) {
        int threads = available();
        if (threads < 2 || vit.parameters().count() > MAX_PARAMETERS) return 1;
        if ((long) batch * vit.config().tokens() < (long) threads * BatchChunks.tokensPerChunk()) return 1;
        return Math.min(threads, batch);
    }

    /** Workers for an inference pass over {@code chunks} chunks: one per chunk, at most one per thread. */
    public static int inference(VisionTransformer vit, int chunks) {
        if (vit.parameters().count() > MAX_PARAMETERS) return 1;
        return Math.max(1, Math.min(available(), chunks));
    }

    private static int available() {
        return !ENABLED || Parallel.inParallelRegion() ? 1 : Parallel.threads();
    }
}
