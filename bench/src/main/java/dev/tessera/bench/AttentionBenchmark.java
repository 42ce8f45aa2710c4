package dev.tessera.bench;

import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.ScalarKernels;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Attention of one image (batch 1), 12 heads of width 64, Q/K/V/O laid out (H, N, d). {@code naive} is the textbook
 * form from the same GEMM: S = scale Q K^T materialised per head (N x N), softmax, O = P V; {@code fused} never holds
 * more than a score tile. {@code scalar} is the reference kernel (row at a time), for what the SIMD work buys.
 * Memory per head: naive 4*N*N bytes of scores (plus their gradient for fwdbwd); fused O(N*d) scratch.
 *
 * <p>{@code -p impl=gemms} (not run by default) times naive's products alone, without its softmax: what any attention
 * would take whose products run at this GEMM's rate, so naive / gemms bounds what a fused kernel can gain over naive
 * without faster products. Zen 5, two threads (2026-12-02, two runs): N = 1024 naive 21.6-21.8 ms, its products
 * 12.0-14.8; N = 197 0.87-1.16 and 0.51-0.61. Timed apart, each in its own loop, naive's three steps added up to only
 * 15.7 ms at N = 1024 (products 11.9): in sequence the softmax and P V wait for scores just written to memory.
 *
 * <p>Twelve seconds of warm-up: the fused backward's per-head methods reach C2 late (a few hundred calls a second), and
 * after 3 x 1 s its first measured second still ran 24.5 ms per call at N = 197 with 3.9 MB of boxed vectors, against
 * 6.5-7.6 ms and under 1 KB from the fourth on (Zen 3, 2026-12-01).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 6, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class AttentionBenchmark {
    @Param({"fused", "naive"})
    public String impl;

    @Param({"fwd", "fwdbwd"})
    public String mode;

    @Param({"197", "1024"})
    public int seq;

    @Param({"2"})
    public int threads;

    static final int HEADS = 12, D = 64;

    private Arena arena;
    private MemorySegment q, k, v, o, lse, dO, dq, dk, dv, s, p, dp;
    private Kernels kernels;
    private AttentionShape shape;
    private float[] scale;

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        long n = (long) HEADS * seq * D;
        q = BenchData.gaussian(arena, n, 1); k = BenchData.gaussian(arena, n, 2); v = BenchData.gaussian(arena, n, 3); dO = BenchData.gaussian(arena, n, 4);
        o = OffHeap.allocateFloats(arena, n); dq = OffHeap.allocateFloats(arena, n); dk = OffHeap.allocateFloats(arena, n); dv = OffHeap.allocateFloats(arena, n);
        lse = OffHeap.allocateFloats(arena, (long) HEADS * seq);
        if (!impl.equals("fused") && !impl.equals("scalar")) {
            s = OffHeap.allocateFloats(arena, (long) HEADS * seq * seq);
            p = OffHeap.allocateFloats(arena, (long) HEADS * seq * seq);
            dp = OffHeap.allocateFloats(arena, (long) HEADS * seq * seq);
        }
        // (H, N, d) contiguous: sB unused (batch 1), sN = d, sH = N*d.
        shape = new AttentionShape(1, HEADS, seq, D, (long) HEADS * seq * D, D, (long) seq * D, (long) HEADS * seq * D, D, (long) seq * D);
        scale = new float[HEADS];
        java.util.Arrays.fill(scale, (float) (1 / Math.sqrt(D)));
        kernels = impl.equals("scalar") ? new ScalarKernels() : KernelProvider.get();
        dev.tessera.engine.kernels.Parallel.setThreads(threads);
    }

    @TearDown
    public void tearDown() {
        Sidecar.record("AttentionBenchmark", impl + "," + mode + "," + seq + "," + threads);
        arena.close();
    }

    @Benchmark
    public MemorySegment attention() {
        if (impl.equals("naive") || impl.equals("gemms")) naive();
        else {
            kernels.attention(shape, q, 0, k, 0, v, 0, scale, null, 0, o, 0, lse, 0);
            if (mode.equals("fwdbwd")) {
                kernels.attentionBackward(shape, q, 0, k, 0, v, 0, scale, null, 0, o, 0, dO, 0, lse, 0, dq, 0, dk, 0, dv, 0, null);
            }
        }
        return o;
    }

    private void naive() {
        int n = seq;
        long hs = (long) n * D, ss = (long) n * n;
        float sc = scale[0];
        boolean products = impl.equals("gemms");
        kernels.gemmBatched(HEADS, false, true, n, n, D, sc, q, 0, D, hs, k, 0, D, hs, 0f, s, 0, n, ss);
        if (!products) kernels.softmax(s, 0, p, 0, HEADS * n, n);
        kernels.gemmBatched(HEADS, false, false, n, D, n, 1f, p, 0, n, ss, v, 0, D, hs, 0f, o, 0, D, hs);
        if (mode.equals("fwdbwd")) {
            // dV = P^T dO ; dP = dO V^T ; dS = softmax'(dP) ; dQ = sc dS K ; dK = sc dS^T Q
            kernels.gemmBatched(HEADS, true, false, n, D, n, 1f, p, 0, n, ss, dO, 0, D, hs, 0f, dv, 0, D, hs);
            kernels.gemmBatched(HEADS, false, true, n, n, D, 1f, dO, 0, D, hs, v, 0, D, hs, 0f, dp, 0, n, ss);
            if (!products) {
                s.fill((byte) 0);
                kernels.softmaxBackward(p, 0, dp, 0, s, 0, HEADS * n, n);
            }
            kernels.gemmBatched(HEADS, false, false, n, D, n, sc, s, 0, n, ss, k, 0, D, hs, 0f, dq, 0, D, hs);
            kernels.gemmBatched(HEADS, true, false, n, D, n, sc, s, 0, n, ss, q, 0, D, hs, 0f, dk, 0, D, hs);
        }
    }
}
