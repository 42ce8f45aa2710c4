package dev.tessera.bench;

import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Seeded random inputs for the benchmarks, off-heap and counted like the engine's own memory. */
final class BenchData {
    private BenchData() {}

    static MemorySegment gaussian(Arena arena, long n, long seed) {
        MemorySegment m = OffHeap.allocateFloats(arena, n);
        Random r = new Random(seed);
        for (long i = 0; i < n; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        return m;
    }
}
