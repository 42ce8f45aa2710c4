package dev.tessera.engine.kernels.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The GEMM driver's packing, vectorised. Packing runs of nr or mr floats one k step at a time cost, done with
 * MemorySegment.copy (a fixed cost per call) or element by element (a bounds and liveness check per float), a quarter
 * of the time of the weight-gradient GEMMs, where M is a layer width and each packed float feeds few multiply-adds.
 */
final class SimdPack {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    private SimdPack() {}

    /**
     * bp[dst + (j/nr)*nr*kc + p*nr + j%nr] = b[src + p*ldb + j] for p < kc and j < cols, 0 up to whole panels; nr is a
     * multiple of L. A k step's columns are read together, front to back, for every panel: panel by panel, each row
     * was read nr floats at a time and a row apart, over and over. Full panels too are vector moves rather than one
     * bulk copy per row: on 197-row GEMMs, where each packed float feeds few rows, 162-179 against 156-173 GFLOPS at
     * one thread (1576 rows: the same within noise).
     */
    static void panelB(MemorySegment b, long src, long ldb, int kc, int cols, int nr, MemorySegment bp, long dst) {
        int full = cols / nr, rest = cols - full * nr;
        long panelBytes = (long) nr * kc * 4;
        for (int p = 0; p < kc; p++) {
            long s = (src + p * ldb) * 4, d = (dst + (long) p * nr) * 4;
            for (int q = 0; q < full; q++, s += nr * 4L, d += panelBytes) {
                for (int j = 0; j < nr; j += L) FloatVector.fromMemorySegment(S, b, s + j * 4L, NO).intoMemorySegment(bp, d + j * 4L, NO);
            }
            if (rest > 0) {
                for (int j = 0; j < nr; j += L) {
                    // Lanes past cols load as 0 (and are not read): the zero padding comes with the copy.
                    VectorMask<Float> m = S.indexInRange(j, rest);
                    FloatVector.fromMemorySegment(S, b, s + j * 4L, NO, m).intoMemorySegment(bp, d + j * 4L, NO);
                }
            }
        }
    }

    /**
     * Panels of nr columns from B stored transposed (its columns as rows, ldb apart, as PyTorch stores a linear layer's
     * weight): bp[dst + (j/nr)*nr*kc + p*nr + j%nr] = b[src + j*ldb + p] for j < cols and p < kc, 0 up to whole panels.
     * L stored rows by L k steps at a time through {@link SimdTranspose#toRows}; what is left of kc, and a last group of
     * fewer than L rows, element by element. Element by element throughout (by way of a heap copy), this was 2-3% of the
     * D = 128 and D = 192 training steps, whose input gradients multiply by W^T for every chunk.
     */
    static void panelsBT(MemorySegment b, long src, long ldb, int kc, int cols, int nr, MemorySegment bp, long dst, float[] heapBlock) {
        int panels = (cols + nr - 1) / nr, wholeK = kc / L * L;
        for (int q = 0; q < panels; q++) {
            long panel = dst + (long) q * nr * kc;
            for (int jb = 0; jb < nr; jb += L) {
                int j = q * nr + jb, rows = Math.min(L, cols - j);
                if (rows == L) {
                    long row = src + (long) j * ldb;
                    for (int p = 0; p < wholeK; p += L) SimdTranspose.toRows(b, row + p, ldb, bp, panel + (long) p * nr + jb, nr, heapBlock);
                    for (int i = 0; i < L; i++) {
                        for (int p = wholeK; p < kc; p++) bp.setAtIndex(ValueLayout.JAVA_FLOAT, panel + (long) p * nr + jb + i, b.getAtIndex(ValueLayout.JAVA_FLOAT, row + i * ldb + p));
                    }
                } else {
                    for (int i = 0; i < L; i++) {
                        long r = src + (long) (j + i) * ldb;
                        for (int p = 0; p < kc; p++) bp.setAtIndex(ValueLayout.JAVA_FLOAT, panel + (long) p * nr + jb + i, i < rows ? b.getAtIndex(ValueLayout.JAVA_FLOAT, r + p) : 0f);
                    }
                }
            }
        }
    }

    /**
     * Panels of mr rows from A transposed: ap[dst + (i/mr)*mr*kc + p*mr + i%mr] = alpha * a[src + p*lda + i] for
     * i < rows and p < kc, zero up to whole panels. Row p of the stored A is read front to back (panel by panel, it
     * was read 48 bytes per row and a row apart, which the prefetchers did not follow: 27% of a TN GEMM's time).
     */
    static void panelsAT(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst) {
        int panels = (rows + mr - 1) / mr, full = rows / mr;
        if (mr < L) {
            panelsATNarrow(a, src, lda, kc, rows, mr, alpha, ap, dst, panels);
            return;
        }
        for (int c0 = 0; c0 < mr; c0 += L) {
            VectorMask<Float> store = S.indexInRange(c0, mr), last = S.indexInRange(c0, rows - full * mr);
            for (int p = 0; p < kc; p++) {
                long s = (src + p * lda + c0) * 4;
                int d = dst + p * mr + c0;
                for (int q = 0; q < panels; q++) {
                    FloatVector v = FloatVector.fromMemorySegment(S, a, s + (long) q * mr * 4, NO, q < full ? store : last);
                    if (alpha != 1f) v = v.mul(alpha);
                    v.intoArray(ap, d + q * mr * kc, store);
                }
            }
        }
    }

    /**
     * {@link #panelsAT} for panels narrower than a vector (6 rows of 8 lanes on AVX2, 12 of 16 on AVX-512): whole
     * vectors are loaded and stored, and the lanes past mr land on the next k step's slots, which the next pass over p
     * overwrites. Only the last steps of a panel (whose spill would leave it) and the last rows of A (whose read would
     * leave the run of rows) are masked. With a masked load and store for every panel and k step, this packing took
     * 10% of a D = 192 training step on Zen 3.
     */
    private static void panelsATNarrow(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst, int panels) {
        VectorMask<Float> store = S.indexInRange(0, mr);
        int wholeLoads = rows >= L ? (rows - L) / mr + 1 : 0;  // panels q whose L-float read stays within the rows
        int wholeSteps = Math.max(0, kc - (L - 1) / mr);        // steps p whose L-float write stays within the panel
        int panelFloats = mr * kc;
        // Straight-line vectors: one chosen under a condition (a load or a masked load, scaled or not) is a phi, which
        // the Vector API rules avoid. Alone (a probe, in L1/L2, Zen 3) an N = 197 head's V^T and K panels took 6.3 and
        // 5.0 us written this way, 8.5 and 8.3 us before; attention and the training step did not change measurably.
        FloatVector scale = FloatVector.broadcast(S, alpha);
        for (int p = 0; p < kc; p++) {
            long s = (src + p * lda) * 4;
            int d = dst + p * mr, q = 0;
            if (p < wholeSteps) {
                for (; q < wholeLoads; q++) FloatVector.fromMemorySegment(S, a, s + (long) q * mr * 4, NO).mul(scale).intoArray(ap, d + q * panelFloats);
                for (; q < panels; q++) {
                    FloatVector.fromMemorySegment(S, a, s + (long) q * mr * 4, NO, S.indexInRange(q * mr, rows).and(store)).mul(scale).intoArray(ap, d + q * panelFloats);
                }
            } else {
                for (; q < wholeLoads; q++) FloatVector.fromMemorySegment(S, a, s + (long) q * mr * 4, NO).mul(scale).intoArray(ap, d + q * panelFloats, store);
                for (; q < panels; q++) {
                    FloatVector.fromMemorySegment(S, a, s + (long) q * mr * 4, NO, S.indexInRange(q * mr, rows).and(store)).mul(scale).intoArray(ap, d + q * panelFloats, store);
                }
            }
        }
    }

    /** {@link SimdTranspose#panel12x16}'s 16 x 16 block, per thread. */
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[256]);

    /**
     * Panels of mr rows from A as stored (rows lda apart): ap[dst + (i/mr)*mr*kc + p*mr + i%mr] = alpha * a[src + i*lda + p]
     * for i < rows and p < kc, zero up to whole panels. For the AVX2 kernel's 6 rows on 8 lanes, 8 k steps of a panel
     * at a time: its 6 rows loaded as vectors (2 zero rows after them), turned by {@link SimdTranspose}'s rounds into 8
     * vectors of one k step each ({@link SimdTranspose#panel6x8}), and stored 6 floats apart, each store's last 2 lanes
     * overwritten by the next; AVX-512's 12 rows on 16 lanes the same way ({@link SimdTranspose#panel12x16}). JFR put
     * the element-by-element loop (a bounds check per float) at 5-7.5% of the D = 192 training and eval steps.
     */
    static void panelsA(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst) {
        int full = rows / mr, panels = (rows + mr - 1) / mr;
        boolean turned = L == 8 && mr == 6, turned16 = L == 16 && mr == 12;
        for (int q = 0; q < panels; q++) {
            long s = src + (long) q * mr * lda;
            int d = dst + q * mr * kc, n = Math.min(mr, rows - q * mr), p = 0;
            // The last group of the last panel would spill past what this call packs (into another worker's panels,
            // when the pool packs A together): it stays scalar.
            int end = q == panels - 1 ? kc - 1 : kc;
            if (turned && q < full) {
                for (; p + 8 <= end; p += 8) SimdTranspose.panel6x8(a, s + p, lda, alpha, ap, d + p * 6);
            }
            if (turned16 && q < full) {
                float[] block = BLOCK.get();
                for (; p + 16 <= end; p += 16) SimdTranspose.panel12x16(a, s + p, lda, alpha, ap, d + p * 12, block);
            }
            for (int i = 0; i < n; i++) {
                long r = s + (long) i * lda;
                for (int k = p; k < kc; k++) ap[d + k * mr + i] = alpha * a.getAtIndex(ValueLayout.JAVA_FLOAT, r + k);
            }
            for (int i = n; i < mr; i++) {
                for (int k = p; k < kc; k++) ap[d + k * mr + i] = 0f;
            }
        }
    }
}
