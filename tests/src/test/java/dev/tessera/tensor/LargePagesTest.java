package dev.tessera.tensor;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.PackedMatrix;
import dev.tessera.engine.tensor.LargePages;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Pre-packed weights in transparent huge pages (LargePages), and the ordinary allocation where they do not apply. */
class LargePagesTest {
    private static final long HUGE = 2L << 20;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    @Test
    void largeAllocationsAreZeroedWritableCountedAndFreedWithTheirArena() {
        long floats = 3 * HUGE / 4 + 5;   // not a whole number of huge pages
        long before = OffHeap.allocatedBytes();
        MemorySegment seg;
        try (Arena arena = Arena.ofShared()) {
            seg = OffHeap.allocateLargeFloats(arena, floats);
            assertEquals(floats * 4, seg.byteSize());
            assertEquals(floats * 4, OffHeap.allocatedBytes() - before);
            if (LargePages.available()) assertEquals(0, seg.address() % HUGE, "huge-page memory starts on a 2 MiB boundary");
            else assertEquals(0, seg.address() % OffHeap.ALIGNMENT);
            for (long i = 0; i < floats; i += 4093) assertEquals(0f, seg.getAtIndex(F, i));
            assertEquals(0f, seg.getAtIndex(F, floats - 1));
            seg.setAtIndex(F, floats - 1, 7f);
            seg.setAtIndex(F, 0, -3f);
            assertEquals(7f, seg.getAtIndex(F, floats - 1));
            assertEquals(-3f, seg.getAtIndex(F, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> seg.getAtIndex(F, floats));
        }
        assertThrows(IllegalStateException.class, () -> seg.getAtIndex(F, 0), "unmapped with its arena");
    }

    /** A mapping whose segment cannot be made (here: the arena is already closed) is unmapped, not leaked. */
    @Test
    void aFailedAllocationLeavesNoMapping() throws Exception {
        Assumptions.assumeTrue(LargePages.available());
        Arena closed = Arena.ofShared();
        closed.close();
        long floats = 64 * HUGE / 4, before = virtualBytes();
        for (int i = 0; i < 20; i++) {
            assertThrows(RuntimeException.class, () -> OffHeap.allocateLargeFloats(closed, floats));
        }
        // 20 leaked mappings would add 1.3 GB of address space; the JVM's own growth meanwhile is far below 512 MB.
        long grown = virtualBytes() - before;
        assertTrue(grown < 512L << 20, "address space grew by " + grown + " bytes");
    }

    private static long virtualBytes() throws java.io.IOException {
        for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
            if (l.startsWith("VmSize:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
        }
        throw new IllegalStateException("no VmSize in /proc/self/status");
    }

    @Test
    void smallAllocationsStayOrdinary() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = OffHeap.allocateLargeFloats(arena, 1000);
            assertEquals(4000, seg.byteSize());
            assertEquals(0, seg.address() % OffHeap.ALIGNMENT);
        }
    }

    /** Huge pages are used where this JVM allows them: on Linux with native access, as the tests run. */
    @Test
    void availableOnLinuxWithNativeAccess() {
        Assumptions.assumeTrue(System.getProperty("os.name", "").startsWith("Linux"));
        Assumptions.assumeTrue(LargePages.class.getModule().isNativeAccessEnabled());
        assertTrue(LargePages.available());
    }

    @Test
    void theKernelModeIsOneOfLinuxsOrUnknown() {
        assertTrue(java.util.Set.of("always", "madvise", "never", "unknown").contains(LargePages.kernelMode()), LargePages.kernelMode());
    }

    @Test
    void aProductWithBPackedIntoLargePagesEqualsThePlainOne() {
        Kernels k = KernelProvider.get();
        int m = 7, n = 769, kk = 771;   // packed B over 2 MiB
        Assumptions.assumeTrue(k.packedFloats(kk, n) * 4 >= HUGE, "no packed path here");
        Random r = new Random(3);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = OffHeap.allocateFloats(arena, (long) m * kk), b = OffHeap.allocateFloats(arena, (long) kk * n);
            for (long i = 0; i < (long) m * kk; i++) a.setAtIndex(F, i, (float) r.nextGaussian());
            for (long i = 0; i < (long) kk * n; i++) b.setAtIndex(F, i, (float) r.nextGaussian());
            MemorySegment packedRoom = OffHeap.allocateLargeFloats(arena, k.packedFloats(kk, n));
            PackedMatrix packed = k.packB(false, kk, n, b, 0, n, packedRoom, 0);
            MemorySegment c1 = OffHeap.allocateFloats(arena, (long) m * n), c2 = OffHeap.allocateFloats(arena, (long) m * n);
            k.gemmPacked(m, n, kk, a, 0, kk, packed, c1, 0, n, Epilogue.NONE);
            k.gemm(false, false, m, n, kk, 1f, a, 0, kk, b, 0, n, 0f, c2, 0, n, Epilogue.NONE);
            for (long i = 0; i < (long) m * n; i++) {
                float x = c1.getAtIndex(F, i), y = c2.getAtIndex(F, i);
                assertTrue(Math.abs(x - y) <= 1e-4f + 1e-4f * Math.abs(y), "C[" + i + "]: " + x + " vs " + y);
            }
        }
    }
}
