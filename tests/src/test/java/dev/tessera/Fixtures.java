package dev.tessera;

import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.ScalarKernels;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Shared test helpers: random off-heap data and the tolerance check |d| <= atol + rtol*|ref|. */
public final class Fixtures {
    public static final Kernels REF = new ScalarKernels();
    public static final Kernels FAST = KernelProvider.get();
    /** Lanes of the active path, for shapes of lanes +- 1. */
    public static final int LANES = KernelProvider.selection().vectorBits() >= 256 ? KernelProvider.selection().vectorBits() / 32 : 8;

    private Fixtures() {}

    public static MemorySegment random(Arena arena, long n, long seed) {
        MemorySegment s = OffHeap.allocateFloats(arena, n);
        Random r = new Random(seed);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextGaussian()));
        return s;
    }

    public static MemorySegment copy(Arena arena, MemorySegment src) {
        MemorySegment s = OffHeap.allocateFloats(arena, src.byteSize() / 4);
        MemorySegment.copy(src, 0, s, 0, src.byteSize());
        return s;
    }

    public static float[] floats(MemorySegment s, long off, long n) {
        float[] out = new float[(int) n];
        MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, off * 4, out, 0, (int) n);
        return out;
    }

    /** Asserts |fast - ref| <= atol + rtol*|ref| everywhere, naming the first index that fails. */
    public static void assertClose(String what, float[] ref, float[] fast, double atol, double rtol) {
        if (ref.length != fast.length) throw new AssertionError(what + ": lengths " + ref.length + " vs " + fast.length);
        for (int i = 0; i < ref.length; i++) {
            double d = Math.abs((double) fast[i] - ref[i]);
            if (!(d <= atol + rtol * Math.abs(ref[i]))) {
                throw new AssertionError(what + ": index " + i + " ref " + ref[i] + " got " + fast[i] + " (|d| = " + d + ")");
            }
        }
    }

    public static void assertClose(String what, MemorySegment ref, MemorySegment fast, long n, double atol, double rtol) {
        assertClose(what, floats(ref, 0, n), floats(fast, 0, n), atol, rtol);
    }
}
