package dev.tessera.bench;

import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.kernels.ScalarKernels;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

/**
 * C[MxN] = A[MxK] B[KxN], row-major; one op is one GEMM. GFLOPS = 2*M*N*K / (seconds per op) / 1e9.
 * {@code impl=scalar} runs the reference triple loop on the smallest shape only (it is ~100x slower).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GemmBenchmark {
    public static final String DEFAULT_SHAPES = "197x2304x768,197x768x768,197x3072x768,197x768x3072,1576x2304x768,1024x1024x1024,6400x576x192";

    @Param({"197x2304x768", "197x768x768", "197x3072x768", "197x768x3072", "1576x2304x768", "1024x1024x1024", "6400x576x192"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    @Param({"simd"})
    public String impl;

    private Arena arena;
    private MemorySegment a, b, c;
    private int m, n, k;
    private Kernels kernels;

    @Setup
    public void setup() {
        String[] p = shape.split("x");
        m = Integer.parseInt(p[0]);
        n = Integer.parseInt(p[1]);
        k = Integer.parseInt(p[2]);
        arena = Arena.ofShared();
        a = BenchData.gaussian(arena, (long) m * k, 1);
        b = BenchData.gaussian(arena, (long) k * n, 2);
        c = OffHeap.allocateFloats(arena, (long) m * n);
        kernels = impl.equals("scalar") ? new ScalarKernels() : KernelProvider.get();
        Parallel.setThreads(threads);
    }

    @TearDown
    public void tearDown() {
        Sidecar.record("GemmBenchmark", shape + "," + threads + "," + impl);
        arena.close();
    }

    @Benchmark
    public void gemm(Blackhole bh) {
        kernels.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n, Epilogue.NONE);
        bh.consume(c);
    }

    public double flops() { return 2.0 * m * n * k; }
}
