package dev.tessera.engine.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Pulls memory into the cache ahead of the code that needs it: Java has no prefetch instruction, so one int per 64-byte
 * line is read, every load independent of the others, and their misses overlap (front to back, the hardware
 * prefetchers join in). Used where a kernel would otherwise meet the same lines one miss at a time: attention reading
 * a batch item's rows head by head, a GEMM merging tiles into a C block that has left the cache.
 */
public final class CacheLines {
    private static final long LINE = 64;
    /** Written only when the loads' xor hits one unlikely value: the loads stay live without two cores writing a line. */
    private static int sink;

    private CacheLines() {}

    /** Reads bytes [from, to) of seg, one int per cache line. */
    public static void read(MemorySegment seg, long from, long to) {
        int acc = 0;
        for (long at = from; at < to; at += LINE) acc ^= seg.get(ValueLayout.JAVA_INT, at);
        if (acc == 0x5EED1E55) sink = acc;
    }
}
