package dev.tessera.engine.kernels.simd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * L x L transposes in registers, for the attention kernel's changes between rows and lanes. Gathers did this before:
 * one gather instruction per L floats, which AMD's cores split into L loads (6% of a D = 128 training step went to
 * them). Here log2(L) rounds of two-source permutes (vpermi2ps on AVX-512) each swap one bit of the row index with the
 * same bit of the lane index: at round s, rows i and i + s (i without bit s) exchange their lanes with bit s set and
 * those of the other without it. Written out for 16 lanes, so that the rows stay in registers from the loads to the
 * stores: about 2x faster than gathers here (64 x 64 floats in 0.9 us); through memory between rounds it was no faster
 * than the gathers. 8 lanes (AVX2, no two-source permute) build each round from one-source permutes and blends.
 * Other widths keep the gathers.
 */
final class SimdTranspose {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    /**
     * Per round (s = 8, 4, 2, 1) of a 16-lane block: the lane indices of the lower and upper row of a pair, 0..15 from
     * the first row, 16..31 from the second.
     */
    private static final float[][] LOWER = new float[4][16], UPPER = new float[4][16];

    static {
        for (int r = 0; r < 4; r++) {
            int s = 8 >> r;
            for (int lane = 0; lane < 16; lane++) {
                boolean high = (lane & s) != 0;
                LOWER[r][lane] = high ? 16 + lane - s : lane;
                UPPER[r][lane] = high ? 16 + lane : lane + s;
            }
        }
    }

    /**
     * The same rounds for 8 lanes (s = 4, 2, 1) from one-source permutes and blends, which AVX2 has (vpermps,
     * vblendps): the lower row of a pair takes, in the lanes with bit s set, the upper row's lanes s below
     * (DOWN[r]); the upper row takes, in the lanes with bit s clear, the lower row's lanes s above (UP[r]). Null at
     * other widths.
     */
    private static final VectorShuffle<Float> DOWN0 = shuffle8(4, true), DOWN1 = shuffle8(2, true), DOWN2 = shuffle8(1, true);
    private static final VectorShuffle<Float> UP0 = shuffle8(4, false), UP1 = shuffle8(2, false), UP2 = shuffle8(1, false);
    private static final VectorMask<Float> BIT0 = bit8(4), BIT1 = bit8(2), BIT2 = bit8(1);

    private static VectorShuffle<Float> shuffle8(int s, boolean down) {
        if (L != 8) return null;
        int[] idx = new int[8];
        for (int lane = 0; lane < 8; lane++) idx[lane] = down ? ((lane & s) != 0 ? lane - s : lane) : ((lane & s) != 0 ? lane : lane + s);
        return VectorShuffle.fromArray(S, idx, 0);
    }

    private static VectorMask<Float> bit8(int s) {
        if (L != 8) return null;
        boolean[] bits = new boolean[8];
        for (int lane = 0; lane < 8; lane++) bits[lane] = (lane & s) != 0;
        return VectorMask.fromArray(S, bits, 0);
    }

    private SimdTranspose() {}

    /** Whether {@link #block} turns blocks in registers at this width (else callers gather from a heap copy). */
    static final boolean IN_REGISTERS = L == 16 || L == 8;

    /** {@link #block16} or {@link #block8}, whichever this width has. */
    static void block(MemorySegment src, long off, long stride, int rows, float[] out) {
        if (L == 16) block16(src, off, stride, rows, out);
        else block8(src, off, stride, rows, out);
    }

    /**
     * 8 lanes only: out[t * 8 + j] = src[off + j * stride + t] for t, j < 8, read straight from an off-heap tensor or
     * workspace; rows j >= rows read as zeros. As {@link #block16}, the rows stay in registers through the rounds.
     */
    static void block8(MemorySegment src, long off, long stride, int rows, float[] out) {
        if (rows >= 8) {
            block8Whole(src, off, stride, out);
            return;
        }
        // A last, partial block: its rows staged next to zero rows, so that the transpose itself loads without
        // conditions (a vector chosen under a condition is a phi, which the Vector API rules avoid).
        MemorySegment stage = STAGE.get();
        stage.fill((byte) 0);
        for (int j = 0; j < rows; j++) MemorySegment.copy(src, (off + j * stride) * 4, stage, j * 32L, 32);
        block8Whole(stage, 0, 8, out);
    }

    private static final java.lang.foreign.Arena STAGE_ARENA = java.lang.foreign.Arena.ofShared();
    private static final ThreadLocal<MemorySegment> STAGE = ThreadLocal.withInitial(
            () -> dev.tessera.engine.tensor.OffHeap.allocateFloats(STAGE_ARENA, 64));

    /** {@link #block8} of 8 whole rows. */
    private static void block8Whole(MemorySegment src, long off, long stride, float[] out) {
        FloatVector r0 = FloatVector.fromMemorySegment(S, src, off * 4, NO);
        FloatVector r1 = FloatVector.fromMemorySegment(S, src, (off + 1 * stride) * 4, NO);
        FloatVector r2 = FloatVector.fromMemorySegment(S, src, (off + 2 * stride) * 4, NO);
        FloatVector r3 = FloatVector.fromMemorySegment(S, src, (off + 3 * stride) * 4, NO);
        FloatVector r4 = FloatVector.fromMemorySegment(S, src, (off + 4 * stride) * 4, NO);
        FloatVector r5 = FloatVector.fromMemorySegment(S, src, (off + 5 * stride) * 4, NO);
        FloatVector r6 = FloatVector.fromMemorySegment(S, src, (off + 6 * stride) * 4, NO);
        FloatVector r7 = FloatVector.fromMemorySegment(S, src, (off + 7 * stride) * 4, NO);
        FloatVector a;
        a = r0; r0 = a.blend(r4.rearrange(DOWN0), BIT0); r4 = a.rearrange(UP0).blend(r4, BIT0);
        a = r1; r1 = a.blend(r5.rearrange(DOWN0), BIT0); r5 = a.rearrange(UP0).blend(r5, BIT0);
        a = r2; r2 = a.blend(r6.rearrange(DOWN0), BIT0); r6 = a.rearrange(UP0).blend(r6, BIT0);
        a = r3; r3 = a.blend(r7.rearrange(DOWN0), BIT0); r7 = a.rearrange(UP0).blend(r7, BIT0);
        a = r0; r0 = a.blend(r2.rearrange(DOWN1), BIT1); r2 = a.rearrange(UP1).blend(r2, BIT1);
        a = r1; r1 = a.blend(r3.rearrange(DOWN1), BIT1); r3 = a.rearrange(UP1).blend(r3, BIT1);
        a = r4; r4 = a.blend(r6.rearrange(DOWN1), BIT1); r6 = a.rearrange(UP1).blend(r6, BIT1);
        a = r5; r5 = a.blend(r7.rearrange(DOWN1), BIT1); r7 = a.rearrange(UP1).blend(r7, BIT1);
        a = r0; r0 = a.blend(r1.rearrange(DOWN2), BIT2); r1 = a.rearrange(UP2).blend(r1, BIT2);
        a = r2; r2 = a.blend(r3.rearrange(DOWN2), BIT2); r3 = a.rearrange(UP2).blend(r3, BIT2);
        a = r4; r4 = a.blend(r5.rearrange(DOWN2), BIT2); r5 = a.rearrange(UP2).blend(r5, BIT2);
        a = r6; r6 = a.blend(r7.rearrange(DOWN2), BIT2); r7 = a.rearrange(UP2).blend(r7, BIT2);
        r0.intoArray(out, 0);
        r1.intoArray(out, 8);
        r2.intoArray(out, 16);
        r3.intoArray(out, 24);
        r4.intoArray(out, 32);
        r5.intoArray(out, 40);
        r6.intoArray(out, 48);
        r7.intoArray(out, 56);
    }

    /**
     * 8 lanes only: out[d + t*6 + j] = alpha * a[off + j*lda + t] for j < 6, t < 8, an A panel's 8 k steps for the
     * AVX2 micro-kernel; writes out[d + 48] and out[d + 49] too (garbage the next k steps overwrite). {@link #block8}'s
     * rounds, with rows 6 and 7 zero and the stores 6 floats apart (written out again: the rounds cannot be a shared
     * method without passing eight vectors across a call, which boxes them where C2 does not inline it).
     */
    static void panel6x8(MemorySegment a, long off, long lda, float alpha, float[] out, int d) {
        FloatVector r0 = FloatVector.fromMemorySegment(S, a, off * 4, NO).mul(alpha);
        FloatVector r1 = FloatVector.fromMemorySegment(S, a, (off + lda) * 4, NO).mul(alpha);
        FloatVector r2 = FloatVector.fromMemorySegment(S, a, (off + 2 * lda) * 4, NO).mul(alpha);
        FloatVector r3 = FloatVector.fromMemorySegment(S, a, (off + 3 * lda) * 4, NO).mul(alpha);
        FloatVector r4 = FloatVector.fromMemorySegment(S, a, (off + 4 * lda) * 4, NO).mul(alpha);
        FloatVector r5 = FloatVector.fromMemorySegment(S, a, (off + 5 * lda) * 4, NO).mul(alpha);
        FloatVector r6 = FloatVector.zero(S), r7 = FloatVector.zero(S);
        FloatVector x;
        x = r0; r0 = x.blend(r4.rearrange(DOWN0), BIT0); r4 = x.rearrange(UP0).blend(r4, BIT0);
        x = r1; r1 = x.blend(r5.rearrange(DOWN0), BIT0); r5 = x.rearrange(UP0).blend(r5, BIT0);
        x = r2; r2 = x.blend(r6.rearrange(DOWN0), BIT0); r6 = x.rearrange(UP0).blend(r6, BIT0);
        x = r3; r3 = x.blend(r7.rearrange(DOWN0), BIT0); r7 = x.rearrange(UP0).blend(r7, BIT0);
        x = r0; r0 = x.blend(r2.rearrange(DOWN1), BIT1); r2 = x.rearrange(UP1).blend(r2, BIT1);
        x = r1; r1 = x.blend(r3.rearrange(DOWN1), BIT1); r3 = x.rearrange(UP1).blend(r3, BIT1);
        x = r4; r4 = x.blend(r6.rearrange(DOWN1), BIT1); r6 = x.rearrange(UP1).blend(r6, BIT1);
        x = r5; r5 = x.blend(r7.rearrange(DOWN1), BIT1); r7 = x.rearrange(UP1).blend(r7, BIT1);
        x = r0; r0 = x.blend(r1.rearrange(DOWN2), BIT2); r1 = x.rearrange(UP2).blend(r1, BIT2);
        x = r2; r2 = x.blend(r3.rearrange(DOWN2), BIT2); r3 = x.rearrange(UP2).blend(r3, BIT2);
        x = r4; r4 = x.blend(r5.rearrange(DOWN2), BIT2); r5 = x.rearrange(UP2).blend(r5, BIT2);
        x = r6; r6 = x.blend(r7.rearrange(DOWN2), BIT2); r7 = x.rearrange(UP2).blend(r7, BIT2);
        r0.intoArray(out, d);
        r1.intoArray(out, d + 6);
        r2.intoArray(out, d + 12);
        r3.intoArray(out, d + 18);
        r4.intoArray(out, d + 24);
        r5.intoArray(out, d + 30);
        r6.intoArray(out, d + 36);
        r7.intoArray(out, d + 42);
    }

    /**
     * dst[dOff + t * dStride + j] = src[off + j * stride + t] for j, t < L, segment to segment: L stored rows of a
     * transposed B turned into L k steps of one of its panels, by way of {@link #block} and the caller's heap block.
     * The rounds written out once more with segment stores packed 576 x 192 and 768 x 3072 panels 7-15% faster (best
     * of alternating rounds), about 0.1% of a training step: not worth a third copy of them.
     */
    static void toRows(MemorySegment src, long off, long stride, MemorySegment dst, long dOff, long dStride, float[] heapBlock) {
        block(src, off, stride, L, heapBlock);
        for (int t = 0; t < L; t++) FloatVector.fromArray(S, heapBlock, t * L).intoMemorySegment(dst, (dOff + t * dStride) * 4, NO);
    }

    /**
     * out[t * L + j] = src[off + j * stride + t] for j, t < L with one gather per t (rows holds j * stride for j < L):
     * for the widths {@link #block16} is not written for.
     */
    static void gather(float[] src, int off, int stride, int[] rows, float[] out) {
        for (int t = 0; t < L; t++) FloatVector.fromArray(S, src, off + t, rows, 0).intoArray(out, t * L);
    }

    /**
     * 16 lanes only: out[d + t*12 + j] = alpha * a[off + j*lda + t] for j < 12, t < 16, an A panel's 16 k steps for the
     * AVX-512 micro-kernel (12 x 32); writes out[d + 192 .. d + 195] too (garbage the next k steps overwrite). The rows
     * are turned by {@link #block16} (rows 12 to 15 as zeros) into the caller's 256-float heap block, then stored 12
     * floats apart. Written out in registers, as {@link #panel6x8} is, it packed 192 x 768 in 35.5 against 44.2 us
     * (a probe, medians, Zen 5): about 0.3% of ViT-B/16, not worth a second copy of the rounds. Element by element (a
     * bounds check per float), this packing took 3% of ViT-B/16 inference at one thread and 5% at two.
     */
    static void panel12x16(MemorySegment a, long off, long lda, float alpha, float[] out, int d, float[] block) {
        block16(a, off, lda, 12, block);
        for (int t = 0; t < 16; t++) FloatVector.fromArray(S, block, t * 16).mul(alpha).intoArray(out, d + t * 12);
    }

    /**
     * 16 lanes only: out[t * 16 + j] = src[off + j * stride + t] for t, j < 16, read straight from an off-heap tensor
     * or workspace (no heap copy of the rows); rows j >= rows read as zeros (the padding of a last block). The 16 rows
     * stay in registers through the four rounds. The stores go to an array: with masked segment stores as well, C1 ran
     * out of virtual registers on this method ("COMPILE SKIPPED"), and it ran interpreted, boxing every vector, until
     * C2 took it (an eval step 140 -> 270 ms).
     */
    static void block16(MemorySegment src, long off, long stride, int rows, float[] out) {
        FloatVector lower0 = FloatVector.fromArray(S, LOWER[0], 0), upper0 = FloatVector.fromArray(S, UPPER[0], 0);
        FloatVector lower1 = FloatVector.fromArray(S, LOWER[1], 0), upper1 = FloatVector.fromArray(S, UPPER[1], 0);
        FloatVector lower2 = FloatVector.fromArray(S, LOWER[2], 0), upper2 = FloatVector.fromArray(S, UPPER[2], 0);
        FloatVector lower3 = FloatVector.fromArray(S, LOWER[3], 0), upper3 = FloatVector.fromArray(S, UPPER[3], 0);
        FloatVector zero = FloatVector.zero(S);
        FloatVector r0 = FloatVector.fromMemorySegment(S, src, off * 4, NO);
        FloatVector r1 = 1 < rows ? FloatVector.fromMemorySegment(S, src, (off + 1 * stride) * 4, NO) : zero;
        FloatVector r2 = 2 < rows ? FloatVector.fromMemorySegment(S, src, (off + 2 * stride) * 4, NO) : zero;
        FloatVector r3 = 3 < rows ? FloatVector.fromMemorySegment(S, src, (off + 3 * stride) * 4, NO) : zero;
        FloatVector r4 = 4 < rows ? FloatVector.fromMemorySegment(S, src, (off + 4 * stride) * 4, NO) : zero;
        FloatVector r5 = 5 < rows ? FloatVector.fromMemorySegment(S, src, (off + 5 * stride) * 4, NO) : zero;
        FloatVector r6 = 6 < rows ? FloatVector.fromMemorySegment(S, src, (off + 6 * stride) * 4, NO) : zero;
        FloatVector r7 = 7 < rows ? FloatVector.fromMemorySegment(S, src, (off + 7 * stride) * 4, NO) : zero;
        FloatVector r8 = 8 < rows ? FloatVector.fromMemorySegment(S, src, (off + 8 * stride) * 4, NO) : zero;
        FloatVector r9 = 9 < rows ? FloatVector.fromMemorySegment(S, src, (off + 9 * stride) * 4, NO) : zero;
        FloatVector r10 = 10 < rows ? FloatVector.fromMemorySegment(S, src, (off + 10 * stride) * 4, NO) : zero;
        FloatVector r11 = 11 < rows ? FloatVector.fromMemorySegment(S, src, (off + 11 * stride) * 4, NO) : zero;
        FloatVector r12 = 12 < rows ? FloatVector.fromMemorySegment(S, src, (off + 12 * stride) * 4, NO) : zero;
        FloatVector r13 = 13 < rows ? FloatVector.fromMemorySegment(S, src, (off + 13 * stride) * 4, NO) : zero;
        FloatVector r14 = 14 < rows ? FloatVector.fromMemorySegment(S, src, (off + 14 * stride) * 4, NO) : zero;
        FloatVector r15 = 15 < rows ? FloatVector.fromMemorySegment(S, src, (off + 15 * stride) * 4, NO) : zero;
        FloatVector a;
        a = r0; r0 = lower0.selectFrom(a, r8); r8 = upper0.selectFrom(a, r8);
        a = r1; r1 = lower0.selectFrom(a, r9); r9 = upper0.selectFrom(a, r9);
        a = r2; r2 = lower0.selectFrom(a, r10); r10 = upper0.selectFrom(a, r10);
        a = r3; r3 = lower0.selectFrom(a, r11); r11 = upper0.selectFrom(a, r11);
        a = r4; r4 = lower0.selectFrom(a, r12); r12 = upper0.selectFrom(a, r12);
        a = r5; r5 = lower0.selectFrom(a, r13); r13 = upper0.selectFrom(a, r13);
        a = r6; r6 = lower0.selectFrom(a, r14); r14 = upper0.selectFrom(a, r14);
        a = r7; r7 = lower0.selectFrom(a, r15); r15 = upper0.selectFrom(a, r15);
        a = r0; r0 = lower1.selectFrom(a, r4); r4 = upper1.selectFrom(a, r4);
        a = r1; r1 = lower1.selectFrom(a, r5); r5 = upper1.selectFrom(a, r5);
        a = r2; r2 = lower1.selectFrom(a, r6); r6 = upper1.selectFrom(a, r6);
        a = r3; r3 = lower1.selectFrom(a, r7); r7 = upper1.selectFrom(a, r7);
        a = r8; r8 = lower1.selectFrom(a, r12); r12 = upper1.selectFrom(a, r12);
        a = r9; r9 = lower1.selectFrom(a, r13); r13 = upper1.selectFrom(a, r13);
        a = r10; r10 = lower1.selectFrom(a, r14); r14 = upper1.selectFrom(a, r14);
        a = r11; r11 = lower1.selectFrom(a, r15); r15 = upper1.selectFrom(a, r15);
        a = r0; r0 = lower2.selectFrom(a, r2); r2 = upper2.selectFrom(a, r2);
        a = r1; r1 = lower2.selectFrom(a, r3); r3 = upper2.selectFrom(a, r3);
        a = r4; r4 = lower2.selectFrom(a, r6); r6 = upper2.selectFrom(a, r6);
        a = r5; r5 = lower2.selectFrom(a, r7); r7 = upper2.selectFrom(a, r7);
        a = r8; r8 = lower2.selectFrom(a, r10); r10 = upper2.selectFrom(a, r10);
        a = r9; r9 = lower2.selectFrom(a, r11); r11 = upper2.selectFrom(a, r11);
        a = r12; r12 = lower2.selectFrom(a, r14); r14 = upper2.selectFrom(a, r14);
        a = r13; r13 = lower2.selectFrom(a, r15); r15 = upper2.selectFrom(a, r15);
        a = r0; r0 = lower3.selectFrom(a, r1); r1 = upper3.selectFrom(a, r1);
        a = r2; r2 = lower3.selectFrom(a, r3); r3 = upper3.selectFrom(a, r3);
        a = r4; r4 = lower3.selectFrom(a, r5); r5 = upper3.selectFrom(a, r5);
        a = r6; r6 = lower3.selectFrom(a, r7); r7 = upper3.selectFrom(a, r7);
        a = r8; r8 = lower3.selectFrom(a, r9); r9 = upper3.selectFrom(a, r9);
        a = r10; r10 = lower3.selectFrom(a, r11); r11 = upper3.selectFrom(a, r11);
        a = r12; r12 = lower3.selectFrom(a, r13); r13 = upper3.selectFrom(a, r13);
        a = r14; r14 = lower3.selectFrom(a, r15); r15 = upper3.selectFrom(a, r15);
        r0.intoArray(out, 0);
        r1.intoArray(out, 16);
        r2.intoArray(out, 32);
        r3.intoArray(out, 48);
        r4.intoArray(out, 64);
        r5.intoArray(out, 80);
        r6.intoArray(out, 96);
        r7.intoArray(out, 112);
        r8.intoArray(out, 128);
        r9.intoArray(out, 144);
        r10.intoArray(out, 160);
        r11.intoArray(out, 176);
        r12.intoArray(out, 192);
        r13.intoArray(out, 208);
        r14.intoArray(out, 224);
        r15.intoArray(out, 240);
    }
}
