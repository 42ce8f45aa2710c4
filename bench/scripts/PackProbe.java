import java.lang.foreign.*;
import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * The GEMM driver's packing of A (rows as stored, into the AVX2 kernel's 6-row panels): SimdPack.panelsA against the
 * element-by-element loop it replaced on 2026-12-02, alternating in one JVM, best and median of 40 rounds of 20; the
 * two results are compared for equality.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes bench/scripts/PackProbe.java ROWS K
 * </pre>
 */
public class PackProbe {
    static void scalar(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst) {
        for (int ir = 0; ir < rows; ir += mr) {
            int r = Math.min(mr, rows - ir), base = dst + ir * kc;
            for (int i = 0; i < r; i++) {
                long s = src + (long) (ir + i) * lda; int d = base + i;
                for (int p = 0; p < kc; p++) ap[d + p * mr] = alpha * a.getAtIndex(ValueLayout.JAVA_FLOAT, s + p);
            }
            if (r < mr) for (int p = 0; p < kc; p++) for (int i = r; i < mr; i++) ap[base + p * mr + i] = 0f;
        }
    }
    public static void main(String[] args) throws Exception {
        int m = Integer.parseInt(args[0]), k = Integer.parseInt(args[1]);
        Class<?> c = Class.forName("dev.tessera.engine.kernels.simd.SimdPack");
        Method pa = c.getDeclaredMethod("panelsA", MemorySegment.class, long.class, long.class, int.class, int.class, int.class, float.class, float[].class, int.class);
        pa.setAccessible(true);
        MemorySegment a = Arena.ofShared().allocate(4L * m * k, 64);
        for (long i = 0; i < (long) m * k; i++) a.setAtIndex(ValueLayout.JAVA_FLOAT, i, i % 13);
        float[] ap = new float[(m + 5) / 6 * 6 * k + 64], ap2 = ap.clone();
        double[] t1 = new double[40], t2 = new double[40];
        for (int r = -10; r < 40; r++) {
            long s0 = System.nanoTime();
            for (int i = 0; i < 20; i++) pa.invoke(null, a, 0L, (long) k, k, m, 6, 1f, ap, 0);
            long s1 = System.nanoTime();
            for (int i = 0; i < 20; i++) scalar(a, 0, k, k, m, 6, 1f, ap2, 0);
            long s2 = System.nanoTime();
            if (r >= 0) { t1[r] = (s1 - s0) / 20e6; t2[r] = (s2 - s1) / 20e6; }
        }
        if (!Arrays.equals(Arrays.copyOf(ap, (m + 5) / 6 * 6 * k), Arrays.copyOf(ap2, (m + 5) / 6 * 6 * k))) throw new AssertionError("differ");
        Arrays.sort(t1); Arrays.sort(t2);
        System.out.printf("%dx%d: panelsA best %.3f median %.3f ms, scalar best %.3f median %.3f ms%n", m, k, t1[0], t1[20], t2[0], t2[20]);
    }
}
