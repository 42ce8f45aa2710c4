import dev.tessera.engine.kernels.gemm.MicroKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One generated GEMM micro-kernel alone, on the same packed panels over and over: its speed with B in L1 (kc 256, one
 * panel) or streaming from L2 (kc 768, several panels), without the driver's packing, merging and threads. This is
 * how the AVX2 kernel's spill showed up (43 GFLOPS per core from L1, 91-96 once its k loop was unrolled twice).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes bench/scripts/MicroKernelProbe.java \
 *     dev.tessera.engine.kernels.simd.MicroKernel6x2v KC PANELS [rows]
 * </pre>
 * {@code rows} times computeRows (A as rows) instead of compute (A packed). Prints the best, 75th percentile and median
 * GFLOPS of 30 rounds of 0.2 s: on a shared VM single rounds swing by half.
 */
public class MicroKernelProbe {
    public static void main(String[] args) throws Exception {
        String cls = args[0];
        int kc = Integer.parseInt(args[1]), panels = Integer.parseInt(args[2]);
        boolean rows = args.length > 3;
        var ctor = Class.forName(cls).getDeclaredConstructor();
        ctor.setAccessible(true);
        MicroKernel uk = (MicroKernel) ctor.newInstance();
        int mr = uk.mr(), nr = uk.nr();
        // As rows, A's rows are kc plus a cache line apart, as the driver copies them: kc floats apart, 4 KiB at kc
        // 1024, the 12 rows share L1 sets and the kernel ran at half speed (99 against 182 GFLOPS, Zen 5).
        int rs = rows ? (kc + 15) / 16 * 16 + 16 : kc;
        float[] ap = new float[mr * rs];
        for (int i = 0; i < ap.length; i++) ap[i] = (i % 7) * 0.01f;
        Arena arena = Arena.ofShared();
        MemorySegment b = arena.allocate((long) kc * nr * 4 * panels, 64), c = arena.allocate((long) mr * nr * 4, 64);
        double[] gflops = new double[30];
        for (int r = 0; r < gflops.length; r++) {
            long t0 = System.nanoTime(), calls = 0;
            while (System.nanoTime() - t0 < 200_000_000L) {
                for (int j = 0; j < panels; j++) {
                    if (rows) uk.computeRows(kc, ap, 0, rs, b, (long) j * kc * nr, nr, c, 0, nr);
                    else uk.compute(kc, ap, 0, b, (long) j * kc * nr, nr, c, 0, nr);
                }
                calls += panels;
            }
            gflops[r] = 2.0 * mr * nr * kc * calls / ((System.nanoTime() - t0) / 1e9) / 1e9;
        }
        Arrays.sort(gflops);
        System.out.printf("%s %s kc=%d panels=%d: best %.1f p75 %.1f median %.1f GFLOPS%n", cls, rows ? "computeRows" : "compute",
                kc, panels, gflops[29], gflops[22], gflops[15]);
    }
}
