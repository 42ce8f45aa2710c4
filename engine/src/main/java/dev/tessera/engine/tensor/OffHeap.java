package dev.tessera.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The only place the engine allocates off-heap memory, so that every byte is counted. A steady-state step must leave
 * {@link #allocatedBytes()} unchanged: that is how tests and benchmarks prove the workspace is doing its job.
 */
public final class OffHeap {
    /** Cache-line and AVX-512 aligned: vector loads never straddle lines at the start of a tensor. */
    public static final long ALIGNMENT = 64;

    private static final AtomicLong ALLOCATED = new AtomicLong();
    private static final AtomicLong ALLOCATIONS = new AtomicLong();

    private OffHeap() {}

    /** Zero-filled (the Arena contract), 64-byte aligned memory for {@code floats} floats. */
    public static MemorySegment allocateFloats(Arena arena, long floats) {
        if (floats < 0) throw new TensorException("cannot allocate " + floats + " floats");
        long bytes = Math.max(1, floats) * Float.BYTES;
        MemorySegment seg;
        try {
            seg = arena.allocate(bytes, ALIGNMENT);
        } catch (OutOfMemoryError e) {
            throw new TensorException("off-heap allocation of " + bytes + " bytes failed: " + e.getMessage());
        }
        return counted(seg, bytes);
    }

    /**
     * As {@link #allocateFloats}, for large, long-lived data streamed from memory (pre-packed weights): in transparent
     * huge pages where {@link LargePages} can map them (2 MiB or more; 2 MiB aligned), else as allocateFloats.
     */
    public static MemorySegment allocateLargeFloats(Arena arena, long floats) {
        if (floats >= LargePages.HUGE / Float.BYTES) {
            MemorySegment seg = LargePages.allocate(arena, floats * Float.BYTES);
            if (seg != null) return counted(seg, floats * Float.BYTES);
        }
        return allocateFloats(arena, floats);
    }

    /** Every allocation passes here, so that {@link #allocatedBytes} and {@link #allocations} see it. */
    private static MemorySegment counted(MemorySegment seg, long bytes) {
        ALLOCATED.addAndGet(bytes);
        ALLOCATIONS.incrementAndGet();
        return seg;
    }

    /** Total bytes ever allocated off-heap by the engine (monotonic). */
    public static long allocatedBytes() {
        return ALLOCATED.get();
    }

    /** Number of off-heap allocations ever made by the engine (monotonic). */
    public static long allocations() {
        return ALLOCATIONS.get();
    }
}
