package dev.tessera.bench;

import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.ScalarKernels;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The scalar reference kernels on one GEMM shape and one attention size, beside GemmBenchmark and
 * AttentionBenchmark (which run the same shapes on the SIMD path): what the hand-written vector code buys. Kept
 * apart because the reference is ~100x slower and would dominate every parameter combination it joined.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class ScalarReferenceBenchmark {
    private static final int M = 197, N = 768, K = 768, HEADS = 12, D = 64;
    private final ScalarKernels ref = new ScalarKernels();
    private Arena arena;
    private MemorySegment a, b, c, q, k, v, o, lse;
    private AttentionShape shape;
    private float[] scale;

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        a = BenchData.gaussian(arena, (long) M * K, 1);
        b = BenchData.gaussian(arena, (long) K * N, 2);
        c = OffHeap.allocateFloats(arena, (long) M * N);
        long n = (long) HEADS * M * D;
        q = BenchData.gaussian(arena, n, 3);
        k = BenchData.gaussian(arena, n, 4);
        v = BenchData.gaussian(arena, n, 5);
        o = OffHeap.allocateFloats(arena, n);
        lse = OffHeap.allocateFloats(arena, (long) HEADS * M);
        shape = new AttentionShape(1, HEADS, M, D, n, D, (long) M * D, n, D, (long) M * D);
        scale = new float[HEADS];
        java.util.Arrays.fill(scale, 0.125f);
    }

    @TearDown
    public void tearDown() { arena.close(); }

    /** Compare with GemmBenchmark shape=197x768x768 threads=1. */
    @Benchmark
    public MemorySegment gemm197x768x768() {
        ref.gemm(false, false, M, N, K, 1f, a, 0, K, b, 0, N, 0f, c, 0, N, Epilogue.NONE);
        return c;
    }

    /** Compare with AttentionBenchmark seq=197 mode=fwd. */
    @Benchmark
    public MemorySegment attentionForward197() {
        ref.attention(shape, q, 0, k, 0, v, 0, scale, null, 0, o, 0, lse, 0);
        return o;
    }
}
