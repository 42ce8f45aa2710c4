package dev.tessera.vit.model;

import dev.tessera.engine.kernels.CpuInfo;

/**
 * How many images a forward (and backward) pass takes at a time. A batch of 128 small images is 6400 tokens: every
 * activation of a block (6400 x 128-768 floats, 3-20 MB) then leaves L2, and each op reads the previous one's output
 * back from L3 or memory. About 1000 tokens at a time, a chunk's activations stay near L2. On a 2-core Zen 4, in one
 * JVM against the whole batch (SideBySide, alternating, a noisy VM): eval of the D=128 benchmark model 5-20% faster
 * by run, the D=192 one 4-6%, the default recipe's training step between 0 and 13% (two runs). The training step's
 * workspace shrinks to one chunk's activations. A batch only a little larger than a chunk stays whole: ViT-B/16's
 * 8 x 197 tokens are compute-bound and would read the weights twice.
 */
public final class BatchChunks {
    /**
     * Tokens per chunk: 1024 per MiB of L2 (a chunk's activation 256 floats wide fills it), at least 256. The property
     * {@code tessera.chunk.tokens} overrides it for experiments.
     */
    private static final int TOKENS = Integer.getInteger("tessera.chunk.tokens",
            (int) Math.max(256, CpuInfo.get().l2Bytes() / 1024));

    private BatchChunks() {}

    /** The target tokens per chunk on this CPU. */
    public static int tokensPerChunk() { return TOKENS; }

    /**
     * Images per chunk for a batch of {@code batch} images of {@code tokens} tokens: the whole batch when it is at most
     * two chunks' worth; otherwise chunks of equal size (the last may be smaller) near the target.
     */
    public static int imagesPerChunk(int batch, int tokens) {
        int per = Math.max(1, TOKENS / Math.max(1, tokens));
        if (batch <= 2 * per) return batch;
        int chunks = (batch + per - 1) / per;
        return (batch + chunks - 1) / chunks;
    }
}
