package dev.tessera.kernels;

import static dev.tessera.Fixtures.*;

import dev.tessera.engine.kernels.AttentionDropout;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import net.jqwik.api.*;

/**
 * Fused attention against naive attention, forward and backward, with no mask, LSA's diagonal mask and a random
 * additive mask, and per-head scales. Without a mask or dropout the forward pass is the query-lane kernel (blocks of
 * two vectors of queries, tiles of 64 or 96 keys), with them the row-oriented one: token counts cross both. The naive reference is the scalar row-at-a-time kernel; a second reference is
 * attention assembled from GEMM, softmax and GEMM, materialising the N x N matrix.
 */
@Tag("kernels")
class AttentionTest {

    @Provide
    Arbitrary<Integer> tokens() { return Arbitraries.of(1, 2, 5, LANES - 1, LANES + 1, 2 * LANES + 1, 50, 65, 197); }

    @Provide
    Arbitrary<Integer> headDims() { return Arbitraries.of(1, 3, 8, LANES, LANES + 1, 64); }

    @Provide
    Arbitrary<String> masks() { return Arbitraries.of("none", "diagonal", "random"); }

    static MemorySegment mask(Arena arena, String kind, int n) {
        if (kind.equals("none")) return null;
        MemorySegment m = random(arena, (long) n * n, 99);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                float v = kind.equals("diagonal") ? (i == j && n > 1 ? Float.NEGATIVE_INFINITY : 0f) : m.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j);
                m.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j, v);
            }
        }
        return m;
    }

    @Property(tries = 50)
    void fusedEqualsNaiveForwardAndBackward(@ForAll("tokens") int n, @ForAll("headDims") int d, @ForAll("masks") String maskKind,
                                            @ForAll boolean twoBatches, @ForAll boolean threeHeads, @ForAll boolean dropout) {
        int b = twoBatches ? 2 : 1, h = threeHeads ? 3 : 1;
        AttentionDropout drop = dropout ? new AttentionDropout(0.3f, 17L) : AttentionDropout.NONE;
        AttentionShape s = AttentionShape.packedQkv(b, n, h, d);
        long qkvLen = (long) b * n * 3 * h * d, oLen = (long) b * n * h * d, dim = (long) h * d;
        float[] scale = new float[h];
        for (int i = 0; i < h; i++) scale[i] = (float) (1 / Math.sqrt(d)) * (1 + 0.3f * i);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment qkv = random(arena, qkvLen, 1), mask = mask(arena, maskKind, n);
            MemorySegment o0 = random(arena, oLen, 0), o1 = random(arena, oLen, 0), l0 = random(arena, (long) b * h * n, 0), l1 = random(arena, (long) b * h * n, 0);
            REF.attention(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o0, 0, l0, 0);
            FAST.attention(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o1, 0, l1, 0);
            assertClose("attention out", o0, o1, oLen, 1e-5, 1e-4);
            assertClose("attention lse", l0, l1, (long) b * h * n, 1e-5, 1e-5);

            MemorySegment dO = random(arena, oLen, 7);
            MemorySegment g0 = random(arena, qkvLen, 8), g1 = copy(arena, g0);
            double[] ds0 = new double[h], ds1 = new double[h];
            REF.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o0, 0, dO, 0, l0, 0, g0, 0, g0, dim, g0, 2 * dim, ds0);
            FAST.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o1, 0, dO, 0, l1, 0, g1, 0, g1, dim, g1, 2 * dim, ds1);
            assertClose("attention dqkv", g0, g1, qkvLen, 1e-4, 1e-3);
            // Written, not added: a fresh gradient buffer holds anything.
            MemorySegment z0 = dev.tessera.engine.tensor.OffHeap.allocateFloats(arena, qkvLen), w1 = random(arena, qkvLen, 9), w0 = random(arena, qkvLen, 10);
            REF.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o0, 0, dO, 0, l0, 0, z0, 0, z0, dim, z0, 2 * dim, null);
            FAST.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o1, 0, dO, 0, l1, 0, w1, 0, w1, dim, w1, 2 * dim, null, false);
            REF.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, drop, o0, 0, dO, 0, l0, 0, w0, 0, w0, dim, w0, 2 * dim, null, false);
            assertClose("attention dqkv written", z0, w1, qkvLen, 1e-4, 1e-3);
            assertClose("attention dqkv written, reference", z0, w0, qkvLen, 1e-5, 1e-5);
            for (int i = 0; i < h; i++) {
                if (Math.abs(ds0[i] - ds1[i]) > 1e-3 + 1e-3 * Math.abs(ds0[i])) throw new AssertionError("dscale[" + i + "] " + ds0[i] + " vs " + ds1[i]);
            }
        }
    }

    /**
     * The products on the GEMM micro-kernel (tiled, and whole heads at every N), and on the hand-written panels, forward
     * and backward, each in a kernel set of its own: a machine runs some of them by default (AVX2 whole heads up to 64
     * tokens and the tiled micro-kernel path above, AVX-512 the panels), and all stay tested everywhere.
     */
    static final java.util.List<Kernels> PRODUCT_PATHS = productPaths();

    private static java.util.List<Kernels> productPaths() {
        if (!FAST.name().startsWith("simd")) return java.util.List.of();
        java.util.List<Kernels> paths = new java.util.ArrayList<>();
        String[][] settings = {{"micro", "0"}, {"micro", "100000"}, {"panels", "0"}};
        for (String[] setting : settings) {
            System.setProperty("tessera.attention.products", setting[0]);
            System.setProperty("tessera.attention.wholeHeadTokens", setting[1]);
            try {
                paths.add((Kernels) FAST.getClass().getConstructor().newInstance());
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            } finally {
                System.clearProperty("tessera.attention.products");
                System.clearProperty("tessera.attention.wholeHeadTokens");
            }
        }
        return paths;
    }

    @Property(tries = 30)
    void everyProductPathEqualsNaiveForwardAndBackward(@ForAll("tokens") int n, @ForAll("headDims") int d, @ForAll("masks") String maskKind, @ForAll boolean threeHeads) {
        equalNaiveWithoutDropout(PRODUCT_PATHS, 1, n, threeHeads ? 3 : 1, d, maskKind);
    }

    /**
     * Batches with items enough for the pool, whose rows fit in half of L2: the kernels then run one task per batch
     * item, its rows read in first, its heads one after the other (HeadSchedule). Both product paths, forward and
     * backward, against the naive kernel. Shapes whose rows would not fit are discarded, and jqwik fails the property
     * if most are, so the grouped path cannot silently go untested.
     */
    @Property(tries = 20)
    void headsGroupedByBatchItemEqualNaive(@ForAll("smallTokens") int n, @ForAll("headDims") int d, @ForAll("masks") String maskKind) {
        int h = 3, b = 4 * dev.tessera.engine.kernels.Parallel.threads() + 1;
        long rowBytes = 4L * (n * 3L * h * d + 2L * n * h * d);  // an item's QKV, O and dO
        Assume.that(rowBytes <= dev.tessera.engine.kernels.CpuInfo.get().l2Bytes() / 2);
        java.util.List<Kernels> kernels = new java.util.ArrayList<>(PRODUCT_PATHS);
        kernels.add(FAST);
        equalNaiveWithoutDropout(kernels, b, n, h, d, maskKind);
    }

    /** Each kernel set's attention, forward and backward (dQKV and the scales' gradient), against the naive kernel's. */
    private static void equalNaiveWithoutDropout(java.util.List<Kernels> kernels, int b, int n, int h, int d, String maskKind) {
        AttentionShape s = AttentionShape.packedQkv(b, n, h, d);
        long qkvLen = (long) b * n * 3 * h * d, oLen = (long) b * n * h * d, dim = (long) h * d, lseLen = (long) b * h * n;
        float[] scale = new float[h];
        for (int i = 0; i < h; i++) scale[i] = (float) (1 / Math.sqrt(d)) * (1 + 0.3f * i);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment qkv = random(arena, qkvLen, 1), mask = mask(arena, maskKind, n);
            MemorySegment o0 = random(arena, oLen, 0), l0 = random(arena, lseLen, 0);
            REF.attention(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, AttentionDropout.NONE, o0, 0, l0, 0);
            MemorySegment dO = random(arena, oLen, 7), g0 = random(arena, qkvLen, 8);
            double[] ds0 = new double[h];
            REF.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, AttentionDropout.NONE, o0, 0, dO, 0, l0, 0, g0, 0, g0, dim, g0, 2 * dim, ds0);
            for (Kernels k : kernels) {
                MemorySegment o1 = random(arena, oLen, 0), l1 = random(arena, lseLen, 0);
                k.attention(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, AttentionDropout.NONE, o1, 0, l1, 0);
                assertClose("attention out", o0, o1, oLen, 1e-5, 1e-4);
                assertClose("attention lse", l0, l1, lseLen, 1e-5, 1e-5);
                MemorySegment g1 = random(arena, qkvLen, 8);
                double[] ds1 = new double[h];
                k.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, mask, 0, AttentionDropout.NONE, o1, 0, dO, 0, l1, 0, g1, 0, g1, dim, g1, 2 * dim, ds1);
                assertClose("attention dqkv", g0, g1, qkvLen, 1e-4, 1e-3);
                for (int i = 0; i < h; i++) {
                    if (Math.abs(ds0[i] - ds1[i]) > 1e-3 + 1e-3 * Math.abs(ds0[i])) throw new AssertionError("dscale[" + i + "] " + ds0[i] + " vs " + ds1[i]);
                }
            }
        }
    }

    @Provide
    Arbitrary<Integer> smallTokens() { return Arbitraries.of(1, 2, 5, LANES - 1, LANES + 1, 2 * LANES + 1, 50, 65); }

    @Property(tries = 15)
    void fusedEqualsGemmSoftmaxGemm(@ForAll("tokens") int n, @ForAll("headDims") int d) {
        // One head, contiguous Q, K, V: S = scale Q K^T; P = softmax(S); O = P V.
        AttentionShape s = AttentionShape.contiguous(1, n, 1, d);
        float scale = (float) (1 / Math.sqrt(d));
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = random(arena, (long) n * d, 1), k = random(arena, (long) n * d, 2), v = random(arena, (long) n * d, 3);
            MemorySegment sMat = random(arena, (long) n * n, 0), o0 = random(arena, (long) n * d, 0), o1 = random(arena, (long) n * d, 0), lse = random(arena, n, 0);
            FAST.gemm(false, true, n, n, d, scale, q, 0, d, k, 0, d, 0f, sMat, 0, n, Epilogue.NONE);
            FAST.softmax(sMat, 0, sMat, 0, n, n);
            FAST.gemm(false, false, n, d, n, 1f, sMat, 0, n, v, 0, d, 0f, o0, 0, d, Epilogue.NONE);
            FAST.attention(s, q, 0, k, 0, v, 0, new float[] {scale}, null, 0, o1, 0, lse, 0);
            assertClose("fused vs GEMM attention", o0, o1, (long) n * d, 1e-5, 1e-4);
        }
    }

    @Example
    void dropoutDropsItsRateAndScalesTheRest() {
        AttentionDropout d = new AttentionDropout(0.25f, 3L);
        int dropped = 0, total = 0;
        for (int bh = 0; bh < 4; bh++) {
            for (int i = 0; i < 100; i++) {
                for (int j = 0; j < 100; j++, total++) {
                    float f = d.factor(bh, i, j);
                    if (f == 0f) dropped++;
                    else if (Math.abs(f - 1f / 0.75f) > 1e-6f) throw new AssertionError("kept factor " + f);
                }
            }
        }
        double rate = (double) dropped / total;
        if (Math.abs(rate - 0.25) > 0.01) throw new AssertionError("dropped " + rate + " of the probabilities, want 0.25");
        if (d.factor(1, 2, 3) != new AttentionDropout(0.25f, 3L).factor(1, 2, 3)) throw new AssertionError("not a function of (seed, bh, i, j)");
    }
}
