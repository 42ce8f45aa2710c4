package dev.tessera.kernels;

import static dev.tessera.Fixtures.*;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import net.jqwik.api.*;

/** The fast GEMM against the double-accumulating reference, on shapes around every tile edge. */
@Tag("kernels")
class GemmTest {

    @Provide
    Arbitrary<Integer> mSizes() {
        return Arbitraries.of(1, 2, 5, 6, 7, 11, 12, 13, 25, 37, 197);
    }

    @Provide
    Arbitrary<Integer> nSizes() {
        return Arbitraries.of(1, 3, LANES - 1, LANES, LANES + 1, 2 * LANES - 1, 2 * LANES, 2 * LANES + 1, 100, 385);
    }

    /** Around kc = 320 (forced in the 256-bit run) and past two blocks of the derived kc (at most 1024). */
    @Provide
    Arbitrary<Integer> kSizes() {
        return Arbitraries.of(1, 2, 17, 64, 255, 319, 320, 321, 700, 1100, 2100);
    }

    @Property(tries = 80)
    void gemmMatchesReference(@ForAll("mSizes") int m, @ForAll("nSizes") int n, @ForAll("kSizes") int k,
                              @ForAll boolean transA, @ForAll boolean transB,
                              @ForAll("betas") float beta, @ForAll("threads") int threads) {
        float alpha = 0.75f;
        Parallel.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            long lda = transA ? m + 3 : k + 1, ldb = transB ? k + 2 : n + 5, ldc = n + 1;
            MemorySegment a = random(arena, (transA ? k : m) * lda, 1), b = random(arena, (transB ? n : k) * ldb, 2);
            MemorySegment c0 = random(arena, m * ldc, 3), c1 = copy(arena, c0);
            REF.gemm(transA, transB, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c0, 0, ldc, Epilogue.NONE);
            FAST.gemm(transA, transB, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c1, 0, ldc, Epilogue.NONE);
            // Sums of k products of N(0,1): error grows like sqrt(k) * eps * |terms|.
            assertClose("gemm " + m + "x" + n + "x" + k + " tA=" + transA + " tB=" + transB, c0, c1, m * ldc, 2e-5 * Math.sqrt(k) * 4, 1e-4);
        } finally {
            Parallel.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }

    /**
     * B's rows 256 KiB apart alias onto one set of L2 on any CPU, so the driver packs B instead of reading it in place
     * (Blocking.fitsInPlace); the general property's narrow strides take the in-place path.
     */
    @Property(tries = 20)
    void aliasingStrideOfBMatchesReference(@ForAll("mSizes") int m, @ForAll("nSizes") int n, @ForAll("aliasK") int k,
                                           @ForAll("threads") int threads) {
        Parallel.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            long ldb = 1 << 16, ldc = n + 1;
            MemorySegment a = random(arena, (long) m * k, 1), b = random(arena, k * ldb, 2);
            MemorySegment c0 = random(arena, m * ldc, 3), c1 = copy(arena, c0);
            REF.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, ldb, 0.5f, c0, 0, ldc, Epilogue.NONE);
            FAST.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, ldb, 0.5f, c1, 0, ldc, Epilogue.NONE);
            assertClose("gemm ldb 65536 " + m + "x" + n + "x" + k, c0, c1, m * ldc, 2e-5 * Math.sqrt(k) * 4, 1e-4);
        } finally {
            Parallel.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }

    @Provide
    Arbitrary<Integer> aliasK() { return Arbitraries.of(9, 17, 64); }

    /**
     * Weight-gradient shapes, A transposed with many more rows than columns over a long K: the driver computes these as
     * C^T and adds it back transposed (the general property's sizes stay below that path's threshold).
     */
    @Property(tries = 12)
    void tallWeightGradientsMatchReference(@ForAll("tallM") int m, @ForAll("narrowN") int n, @ForAll("longK") int k,
                                           @ForAll("betas") float beta, @ForAll("threads") int threads) {
        Parallel.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            long lda = m + 3, ldb = n + 5, ldc = n + 1;
            MemorySegment a = random(arena, k * lda, 1), b = random(arena, k * ldb, 2);
            MemorySegment c0 = random(arena, m * ldc, 3), c1 = copy(arena, c0);
            REF.gemm(true, false, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, beta, c0, 0, ldc, Epilogue.NONE);
            FAST.gemm(true, false, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, beta, c1, 0, ldc, Epilogue.NONE);
            assertClose("gemm TN " + m + "x" + n + "x" + k, c0, c1, m * ldc, 2e-5 * Math.sqrt(k) * 4, 1e-4);
        } finally {
            Parallel.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }

    @Provide
    Arbitrary<Integer> tallM() { return Arbitraries.of(401, 769); }

    @Provide
    Arbitrary<Integer> narrowN() { return Arbitraries.of(1, LANES + 1, 67, 193); }

    @Provide
    Arbitrary<Integer> longK() { return Arbitraries.of(600, 1031); }

    /** mSizes and a batch's many rows, whose K blocks of A outgrow L2 (column tasks then cut in whole NC blocks). */
    @Provide
    Arbitrary<Integer> packedM() { return Arbitraries.oneOf(mSizes(), Arbitraries.of(401)); }

    /** Weights packed once (the inference path), used as the B of later GEMMs with an epilogue. */
    @Property(tries = 40)
    void packedBMatchesReference(@ForAll("packedM") int m, @ForAll("nSizes") int n, @ForAll("kSizes") int k,
                                 @ForAll boolean transB, @ForAll("threads") int threads) {
        long floats = FAST.packedFloats(k, n);
        if (floats == 0) { // the scalar path has no packed form and says so
            org.junit.jupiter.api.Assertions.assertNull(FAST.packB(transB, k, n, MemorySegment.NULL, 0, 1, MemorySegment.NULL, 0));
            return;
        }
        Parallel.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            long ldb = transB ? k + 2 : n + 5;
            MemorySegment a = random(arena, (long) m * k, 1), b = random(arena, (transB ? n : k) * ldb, 2), bias = random(arena, n, 3);
            MemorySegment packed = dev.tessera.engine.tensor.OffHeap.allocateFloats(arena, floats + 7);
            dev.tessera.engine.kernels.PackedMatrix pm = FAST.packB(transB, k, n, b, 0, ldb, packed, 7);
            MemorySegment c0 = random(arena, (long) m * n, 4), c1 = random(arena, (long) m * n, 5);
            Epilogue ep = new Epilogue(bias, 0, Activation.GELU, null, 0, n, null, 0, n);
            REF.gemm(false, transB, m, n, k, 1f, a, 0, k, b, 0, ldb, 0f, c0, 0, n, ep);
            FAST.gemmPacked(m, n, k, a, 0, k, pm, c1, 0, n, ep);
            assertClose("packed gemm " + m + "x" + n + "x" + k + " tB=" + transB, c0, c1, (long) m * n, 2e-5 * Math.sqrt(k) * 4, 1e-4);
        } finally {
            Parallel.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }

    @Provide
    Arbitrary<Float> betas() { return Arbitraries.of(0f, 1f, -0.5f); }

    @Provide
    Arbitrary<Integer> threads() { return Arbitraries.of(1, 2, 3); }

    @Property(tries = 40)
    void epilogueBiasActivationResidual(@ForAll("mSizes") int m, @ForAll("nSizes") int n, @ForAll("kSizes") int k,
                                        @ForAll Activation act, @ForAll boolean residual, @ForAll boolean preAct) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) m * k, 4), b = random(arena, (long) k * n, 5), bias = random(arena, n, 6);
            MemorySegment res = residual ? random(arena, (long) m * n, 7) : null;
            MemorySegment p0 = preAct ? random(arena, (long) m * n, 8) : null, p1 = preAct ? copy(arena, p0) : null;
            MemorySegment c0 = random(arena, (long) m * n, 9), c1 = copy(arena, c0);
            Epilogue e0 = new Epilogue(bias, 0, act, res, 0, n, p0, 0, n), e1 = new Epilogue(bias, 0, act, res, 0, n, p1, 0, n);
            REF.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c0, 0, n, e0);
            FAST.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c1, 0, n, e1);
            double atol = 1e-4 * Math.sqrt(k) * 4;
            assertClose("epilogue " + act + " " + m + "x" + n + "x" + k, c0, c1, (long) m * n, atol, 1e-4);
            if (preAct) assertClose("pre-activation", p0, p1, (long) m * n, atol, 1e-4);
        }
    }

    @Example
    void kZeroScalesByBeta() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment c0 = random(arena, 12, 1), c1 = copy(arena, c0);
            REF.gemm(false, false, 3, 4, 0, 1f, c0, 0, 1, c0, 0, 4, 0.5f, c0, 0, 4, Epilogue.NONE);
            FAST.gemm(false, false, 3, 4, 0, 1f, c1, 0, 1, c1, 0, 4, 0.5f, c1, 0, 4, Epilogue.NONE);
            assertClose("k = 0", c0, c1, 12, 0, 0);
        }
    }

    @Property(tries = 20)
    void batchedEqualsLoop(@ForAll("mSizes") int m, @ForAll("nSizes") int n, @ForAll("kSizes") int k) {
        int batch = 3;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) batch * m * k, 1), b = random(arena, (long) batch * n * k, 2);
            MemorySegment c0 = random(arena, (long) batch * m * n, 3), c1 = copy(arena, c0);
            for (int i = 0; i < batch; i++) {
                REF.gemm(false, true, m, n, k, 1f, a, (long) i * m * k, k, b, (long) i * n * k, k, 0f, c0, (long) i * m * n, n, Epilogue.NONE);
            }
            FAST.gemmBatched(batch, false, true, m, n, k, 1f, a, 0, k, (long) m * k, b, 0, k, (long) n * k, 0f, c1, 0, n, (long) m * n);
            assertClose("batched", c0, c1, (long) batch * m * n, 1e-4 * Math.sqrt(k) * 4, 1e-4);
        }
    }

    @Example
    void confinedMemoryRunsOnTheCallingThread() {
        try (Arena arena = Arena.ofConfined()) {
            int m = 300, n = 300, k = 300;
            MemorySegment a = random(arena, (long) m * k, 1), b = random(arena, (long) k * n, 2);
            MemorySegment c0 = random(arena, (long) m * n, 3), c1 = copy(arena, c0);
            REF.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c0, 0, n, Epilogue.NONE);
            FAST.gemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c1, 0, n, Epilogue.NONE);
            assertClose("confined", c0, c1, (long) m * n, 1e-3, 1e-4);
        }
    }
}
