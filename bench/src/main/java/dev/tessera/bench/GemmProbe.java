package dev.tessera.bench;

import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.PackedMatrix;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * A fast, JMH-free GEMM probe for tuning sessions: best-of-5 GFLOPS per shape and thread count.
 * {@code java -cp bench/target/benchmarks.jar dev.tessera.bench.GemmProbe [threads] [[NT:|TN:|P:]MxNxK,...]}; the prefix
 * transposes B (NT, as in dX = dY W^T) or A (TN, as in dW = X^T dY), the GEMMs of a training step's backward pass,
 * or (P) packs B once beforehand and calls gemmPacked, as inference does with a model's weights.
 */
public final class GemmProbe {
    public static void main(String[] args) {
        String threads = args.length > 0 ? args[0] : "1,2";
        String shapes = args.length > 1 ? args[1] : GemmBenchmark.DEFAULT_SHAPES;
        Kernels k = KernelProvider.get();
        for (String sh : shapes.split(",")) {
            boolean ta = sh.startsWith("TN:"), tb = sh.startsWith("NT:"), packed = sh.startsWith("P:");
            String[] p = sh.substring(sh.indexOf(':') + 1).split("x");
            int m = Integer.parseInt(p[0]), n = Integer.parseInt(p[1]), kk = Integer.parseInt(p[2]);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment a = OffHeap.allocateFloats(arena, (long) m * kk), b = OffHeap.allocateFloats(arena, (long) kk * n), c = OffHeap.allocateFloats(arena, (long) m * n);
                Random r = new Random(1);
                for (long i = 0; i < (long) m * kk; i++) a.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, r.nextFloat());
                for (long i = 0; i < (long) kk * n; i++) b.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, r.nextFloat());
                for (String t : threads.split(",")) {
                    Parallel.setThreads(Integer.parseInt(t));
                    double flops = 2.0 * m * n * kk;
                    int reps = (int) Math.max(3, 2e10 / flops);
                    long warm = System.nanoTime();
                    long lda = ta ? m : kk, ldb = tb ? kk : n;
                    PackedMatrix pb = packed ? k.packB(false, kk, n, b, 0, ldb, OffHeap.allocateFloats(arena, k.packedFloats(kk, n)), 0) : null;
                    Runnable call = pb != null ? () -> k.gemmPacked(m, n, kk, a, 0, lda, pb, c, 0, n, Epilogue.NONE)
                            : () -> k.gemm(ta, tb, m, n, kk, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, n, Epilogue.NONE);
                    while (System.nanoTime() - warm < 1_500_000_000L) call.run();
                    double best = Double.MAX_VALUE;
                    for (int round = 0; round < 5; round++) {
                        long t0 = System.nanoTime();
                        for (int i = 0; i < reps; i++) call.run();
                        best = Math.min(best, (System.nanoTime() - t0) / 1e9 / reps);
                    }
                    System.out.printf("{\"impl\":\"%s\",\"shape\":\"%s\",\"threads\":%s,\"gflops\":%.1f}%n", k.name(), sh, t, flops / best / 1e9);
                }
            }
        }
    }
}
