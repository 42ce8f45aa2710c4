package dev.tessera.engine.kernels;

import java.lang.foreign.MemorySegment;

/**
 * A constant B operand (k x n) packed once into the micro-kernel's panel layout, so that repeated GEMMs against it (an
 * inference model's weights) skip packing: for each K block of {@code kc} rows, for each panel of {@code nr} columns,
 * kc x nr floats, the last panel zero padded. Block pc, panel j starts at {@code off + pc * paddedN + j * nr * kcb}
 * where kcb is that block's row count. Only the implementation that made it may read it.
 */
public record PackedMatrix(MemorySegment segment, long off, int k, int n, int kc, int nr, String packedBy) {
    public int paddedN() { return (n + nr - 1) / nr * nr; }

    /** Floats the packed form needs for a k x n matrix. */
    public static long floats(int k, int n, int nr) {
        return (long) k * ((n + nr - 1) / nr * nr);
    }
}
