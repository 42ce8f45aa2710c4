package dev.tessera.vit.model;

import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.tensor.Workspace;

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
        int threads = available(vit);
        if (threads < 2 || (long) batch * vit.config().tokens() < (long) threads * BatchChunks.tokensPerChunk()) return 1;
        return Math.min(threads, batch);
    }

    /** Workers for an inference pass over {@code chunks} chunks: one per chunk, at most one per thread. */
    public static int inference(VisionTransformer vit, int chunks) {
        return Math.max(1, Math.min(available(vit), chunks));
    }

    /** Threads this model's batches may be split between: 1 when off, nested, or for a model above the bound. */
    private static int available(VisionTransformer vit) {
        if (!ENABLED || Parallel.inParallelRegion() || vit.parameters().count() > MAX_PARAMETERS) return 1;
        return Parallel.threads();
    }

    /** One worker's share of a split run: worker {@code w} of the run, in its own workspace. */
    @FunctionalInterface
    public interface Task {
        void run(int w, Workspace own);
    }

    /**
     * Runs task for workers 0 .. workers - 1 as tasks of the kernel pool, worker w in {@code ws.forWorker(w)}. The
     * workspaces are fetched here, before the fork: a workspace makes its workers' on first use and is not thread-safe.
     */
    public static void forEachWorker(Workspace ws, int workers, Task task) {
        Workspace[] spaces = new Workspace[workers];
        for (int w = 0; w < workers; w++) spaces[w] = ws.forWorker(w);
        Parallel.forEach(workers, w -> task.run(w, spaces[w]));
    }

    /** Where worker w's contiguous share of n items starts (shares differ by at most one); share(n, workers, workers) is n. */
    public static int share(int n, int workers, int w) {
        return (int) ((long) n * w / workers);
    }
}
