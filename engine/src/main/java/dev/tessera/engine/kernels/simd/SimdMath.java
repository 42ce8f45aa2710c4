package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.LSHL;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.MathRef;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector special functions as loops over memory: e^x, and the activations and their derivatives built on it.
 *
 * <p>No method here (nor anywhere in this package) takes or returns a vector. C2 inlines our methods only while the
 * compilation is under NodeCountInliningCutoff, and only JDK code may use {@code @ForceInline}; a vector that crosses a
 * call C2 declined is boxed on the heap. With exp(FloatVector) and friends as helpers, big callers such as the attention
 * kernel hit that cutoff in some runs and not in others, and a training step made from 0.2 to 3.3 GB of garbage. A call
 * that passes only segments and offsets costs nothing when it is not inlined.
 *
 * <p>VectorOperators.EXP/TANH are library calls per vector (768 floats in L1, 2026-12-01: EXP 2.8-2.95 G floats/s
 * against 3.7-4.1 for the loop below), so exp is written out in {@link #expShift} as Cephes' expf does it: range
 * reduction by ln 2, a polynomial (a minimax fit one degree below Cephes', bench/scripts/fit_exp.py), and 2^n put into
 * the exponent bits (relative error about 1e-7, RowKernelsTest). tanh and the tanh GELU's derivative run over blocks that fit L1 in two passes,
 * the first gathering e^{2u} in a per-thread scratch block (tanh(u) = 1 - 2 / (e^{2u} + 1)). The exact GELU and its
 * derivative, and the tanh GELU, need no exponential: erf(z) / z, (GELU'(x) - 1/2) / x and tanh(u) / u are rational
 * fits in the square of the argument (bench/scripts/fit_rational.py): one pass and half the instructions or fewer;
 * Abramowitz-Stegun's erf through e^{-z^2} took 2.7 times as long.
 */
final class SimdMath {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final VectorSpecies<Integer> SI = S.vectorShape().withLanes(int.class);
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private static final float SQRT_2_OVER_PI = 0.7978845608f;
    private static final float GELU_C = 0.044715f;

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    // From -87.7 down (x clamped at EXP_LO included) k = -127, and 2^k's bits are all 0: e^x is exactly +0, -inf masks
    // included, with no blend after the multiply (one fewer per vector: 0.070 -> 0.064 ms in the measurement in
    // expShift). Between -87.7 and -87.34 the product is a subnormal.
    private static final float EXP_HI = 88.0f, EXP_LO = -88.0f;
    private static final float ROUND = 12582912f; // 1.5 * 2^23: adding it rounds to the nearest integer
    // e^r = 1 + r + r^2 (C2 + C3 r + C4 r^2 + E5 r^3 + E6 r^4) on |r| <= ln2 / 2: a minimax fit (relative error 3.1e-9 in
    // double, below float's rounding; bench/scripts/fit_exp.py) one degree lower than Cephes' Taylor-like coefficients.
    private static final float E5 = 8.368747292766678e-3f, E6 = 1.381437830169998e-3f;
    private static final FloatVector C2 = FloatVector.broadcast(S, 0.4999999341960915f), C3 = FloatVector.broadcast(S, 0.1666652037636362f),
            C4 = FloatVector.broadcast(S, 0.04166839373821091f);
    private static final FloatVector NEG_LN2_HI = FloatVector.broadcast(S, -LN2_HI), NEG_LN2_LO = FloatVector.broadcast(S, -LN2_LO);
    // Rational fits (bench/scripts/fit_rational.py): erf(z) / z, tanh(u) / u and (GELU'(x) - 1/2) / x as P / Q in the
    // square of the argument, Q(0) = 1.
    private static final float TANH_T_MAX = 81f;
    private static final float ERF_P0 = 1.12837915f, ERF_P1 = 0.189621275f, ERF_P2 = 0.0526622888f, ERF_P3 = 0.00373648055f,
            ERF_P4 = 0.00028503438f, ERF_P5 = 2.06698476e-06f;
    private static final float ERF_Q1 = 0.501380267f, ERF_Q2 = 0.113800344f, ERF_Q3 = 0.014910499f, ERF_Q4 = 0.00115695241f,
            ERF_Q5 = 3.82739284e-05f;
    /**
     * The exact GELU as x/2 + |x| e(|x|), e = erf(|x| / sqrt 2) / 2 = |x| G_P(x^2) / G_Q(x^2): the erf fit above in
     * s = x^2 = 2 t, with 1 / (2 sqrt 2) folded into G_P. The sign goes into |x| instead of clamping erf to [-1, 1]
     * afterwards, and |x| is clamped once at GELU_X_MAX, where the float evaluation of e is exactly 1/2 (RowKernelsTest's
     * dense grid fails with the clamp at 5.2): past it GELU(x) is x, or 0 for x negative, exactly. 17
     * operations and a division per vector instead of 20 and a division (three clamps of t and erf, the multiply by
     * 1 / sqrt 2): 6.4-6.6 against 5.2-5.5 ns per 16 floats in L1 (one thread, Zen 4, 2026-12-02).
     */
    private static final float GELU_X_MAX = 5.5f;
    private static final double G_SCALE = 0.5 / Math.sqrt(2);
    private static final float G_P5 = (float) (ERF_P5 * G_SCALE / 32), G_P4 = (float) (ERF_P4 * G_SCALE / 16);
    private static final float G_Q5 = (float) (ERF_Q5 / 32), G_Q4 = (float) (ERF_Q4 / 16);
    private static final float TANH_P0 = 0.99999998f, TANH_P1 = 0.133812478f, TANH_P2 = 0.00349584726f, TANH_P3 = 2.06131313e-05f,
            TANH_P4 = 1.3359817e-08f;
    private static final float TANH_Q1 = 0.467145636f, TANH_Q2 = 0.0258779806f, TANH_Q3 = 0.000328604964f, TANH_Q4 = 7.77876726e-07f;
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f), HALF = FloatVector.broadcast(S, 0.5f),
            V_G_P3 = FloatVector.broadcast(S, (float) (ERF_P3 * G_SCALE / 8)), V_G_P2 = FloatVector.broadcast(S, (float) (ERF_P2 * G_SCALE / 4)),
            V_G_P1 = FloatVector.broadcast(S, (float) (ERF_P1 * G_SCALE / 2)), V_G_P0 = FloatVector.broadcast(S, (float) (ERF_P0 * G_SCALE)),
            V_G_Q3 = FloatVector.broadcast(S, ERF_Q3 / 8), V_G_Q2 = FloatVector.broadcast(S, ERF_Q2 / 4), V_G_Q1 = FloatVector.broadcast(S, ERF_Q1 / 2),
            V_TANH_P2 = FloatVector.broadcast(S, TANH_P2), V_TANH_P1 = FloatVector.broadcast(S, TANH_P1),
            V_TANH_P0 = FloatVector.broadcast(S, TANH_P0), V_TANH_Q2 = FloatVector.broadcast(S, TANH_Q2), V_TANH_Q1 = FloatVector.broadcast(S, TANH_Q1);
    private static final float DGELU_X_MAX = 5.7f, DGELU_T_MAX = 32.49f;
    private static final float DGELU_P4 = 3.58886228e-05f, DGELU_P5 = 1.91508021e-07f, DGELU_Q4 = 0.000193127833f, DGELU_Q5 = 8.90804553e-06f;
    private static final FloatVector V_DGELU_P0 = FloatVector.broadcast(S, 0.797884752f), V_DGELU_P1 = FloatVector.broadcast(S, -0.0308178746f),
            V_DGELU_P2 = FloatVector.broadcast(S, 0.0142152815f), V_DGELU_P3 = FloatVector.broadcast(S, 2.27070951e-05f),
            V_DGELU_Q1 = FloatVector.broadcast(S, 0.294713285f), V_DGELU_Q2 = FloatVector.broadcast(S, 0.0410402819f),
            V_DGELU_Q3 = FloatVector.broadcast(S, 0.00352671961f);
    private static final IntVector EXP_BIAS = IntVector.broadcast(SI, 0x4B400000 - 127);

    /** Floats per activation block: x, the scratch and the output stay in L1. */
    private static final int BLOCK = 64 * L;
    private static final Arena ARENA = Arena.ofShared();
    private static final ThreadLocal<MemorySegment> SCRATCH = ThreadLocal.withInitial(() -> OffHeap.allocateFloats(ARENA, BLOCK));
    /** Two vectors, 64-byte aligned, for exp's 2^k on its way from float to int lanes and back (see expShift). */
    private static final ThreadLocal<MemorySegment> TRIP = ThreadLocal.withInitial(() -> OffHeap.allocateFloats(ARENA, 2 * L));

    private SimdMath() {}

    /**
     * Sum of L lanes (spilled with intoArray) in a fixed pairwise order: lane i + lane i + h for h = L/2 ... 1.
     * reduceLanes(ADD) is free to pick its order, and C2's intrinsic and the Java fallback (used before C2 compiles a
     * method) pick different ones: the same step then gave different bits early and late in a run, and a resumed
     * training run drifted from the uninterrupted one.
     */
    static float sum(float[] lanes) {
        for (int h = L / 2; h >= 1; h /= 2) {
            for (int i = 0; i < h; i++) lanes[i] += lanes[i + h];
        }
        return lanes[0];
    }

    /**
     * dst[i] = e^(src[i] - shift) for i < n (dst may be src). Exactly +0 below -88 (so -inf masks give 0), and the
     * subnormal results up to -87.3 at most FLT_MIN; e^88 at most above 88; NaN stays NaN. Returns the sum when asked
     * to (summed), else 0.
     */
    static float expShift(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long n, float shift, boolean summed) {
        return expShift(src, srcOff, dst, dstOff, n, shift, summed, srcOff, null);
    }

    /**
     * One tile of attention scores with the queries in the lanes, rows of two vectors: x[r][j] = e^(x[r][j] - shift[j])
     * in place for r < rows, j < 2L, and sum[j] = sum[j] * corr[j] + the column sums of the new x. The shift row is
     * each lane's running max (0 for a lane with nothing but -inf so far), so no x - shift exceeds 0 and only the lower
     * clamp of {@link #expShift} is needed. In one pass, the subtraction and the column sums ride along with the
     * exponentials: with a pass for each (and expShift's upper clamp) the tile's softmax took a fifth of a fused
     * attention forward at N = 1024. Otherwise expShift's steps, written out once more (its loop cannot be shared
     * without passing vectors across a call).
     */
    static void expLanes(MemorySegment w, long tile, int rows, long shift, long sum, long corr) {
        long vb = 4L * L;
        FloatVector s0 = FloatVector.fromMemorySegment(S, w, shift * 4, NO), s1 = FloatVector.fromMemorySegment(S, w, shift * 4 + vb, NO);
        FloatVector a0 = FloatVector.fromMemorySegment(S, w, sum * 4, NO).mul(FloatVector.fromMemorySegment(S, w, corr * 4, NO));
        FloatVector a1 = FloatVector.fromMemorySegment(S, w, sum * 4 + vb, NO).mul(FloatVector.fromMemorySegment(S, w, corr * 4 + vb, NO));
        long end = (tile + (long) rows * 2 * L) * 4;
        for (long slot = tile * 4; slot < end; slot += 2 * vb) {
            long slot2 = slot + vb;
            FloatVector x = FloatVector.fromMemorySegment(S, w, slot, NO).sub(s0);
            FloatVector x2 = FloatVector.fromMemorySegment(S, w, slot2, NO).sub(s1);
            FloatVector xc = x.blend(EXP_LO, x.compare(LT, EXP_LO)), xc2 = x2.blend(EXP_LO, x2.compare(LT, EXP_LO));
            FloatVector t = xc.fma(LOG2E, ROUND), t2 = xc2.fma(LOG2E, ROUND);
            FloatVector k = t.sub(ROUND), k2 = t2.sub(ROUND);
            FloatVector r = k.fma(NEG_LN2_LO, k.fma(NEG_LN2_HI, xc)), r2 = k2.fma(NEG_LN2_LO, k2.fma(NEG_LN2_HI, xc2));
            FloatVector p = r.fma(E6, E5).fma(r, C4).fma(r, C3).fma(r, C2).fma(r.mul(r), r).add(1f);
            FloatVector p2 = r2.fma(E6, E5).fma(r2, C4).fma(r2, C3).fma(r2, C2).fma(r2.mul(r2), r2).add(1f);
            t.intoMemorySegment(w, slot, NO);
            t2.intoMemorySegment(w, slot2, NO);
            IntVector.fromMemorySegment(SI, w, slot, NO).sub(EXP_BIAS).lanewise(LSHL, 23).intoMemorySegment(w, slot, NO);
            IntVector.fromMemorySegment(SI, w, slot2, NO).sub(EXP_BIAS).lanewise(LSHL, 23).intoMemorySegment(w, slot2, NO);
            FloatVector e = p.mul(FloatVector.fromMemorySegment(S, w, slot, NO));
            FloatVector e2 = p2.mul(FloatVector.fromMemorySegment(S, w, slot2, NO));
            e.intoMemorySegment(w, slot, NO);
            e2.intoMemorySegment(w, slot2, NO);
            a0 = e.add(a0);
            a1 = e2.add(a1);
        }
        a0.intoMemorySegment(w, sum * 4, NO);
        a1.intoMemorySegment(w, sum * 4 + vb, NO);
    }

    /**
     * {@link #expShift}, and, when nextMax is given (and summed), the largest of the n floats at src[nextOff..] into
     * nextMax[0] on the way, NaNs passed over as SimdKernels.max does: a softmax's next row, whose loads from memory
     * then overlap this row's arithmetic instead of waiting for it to finish.
     */
    static float expShift(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long n, float shift, boolean summed,
                          long nextOff, float[] nextMax) {
        boolean ahead = nextMax != null;
        MemorySegment trip = TRIP.get();
        FloatVector vsum = FloatVector.zero(S), vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        long i = 0;
        // Two vectors per iteration: their dependency chains (~50 cycles from load to store) interleave. One at a time,
        // a softmax over 128 rows of 768 (in L2) took 0.081 ms against 0.075 (one thread, Zen 3).
        for (; i <= n - 2 * L; i += 2 * L) {
            if (ahead) {
                FloatVector v = FloatVector.fromMemorySegment(S, src, (nextOff + i) * 4, NO);
                vmax = v.blend(vmax, v.compare(GT, vmax).not());
                FloatVector v2 = FloatVector.fromMemorySegment(S, src, (nextOff + i + L) * 4, NO);
                vmax = v2.blend(vmax, v2.compare(GT, vmax).not());
            }
            FloatVector x = FloatVector.fromMemorySegment(S, src, (srcOff + i) * 4, NO).sub(shift);
            FloatVector x2 = FloatVector.fromMemorySegment(S, src, (srcOff + i + L) * 4, NO).sub(shift);
            // Clamped with compare and blend: min/max carry Java's NaN and -0.0 rules, five instructions each in C2's
            // code. A NaN compares false and passes through.
            FloatVector xc = x.blend(EXP_HI, x.compare(GT, EXP_HI)).blend(EXP_LO, x.compare(LT, EXP_LO));
            FloatVector xc2 = x2.blend(EXP_HI, x2.compare(GT, EXP_HI)).blend(EXP_LO, x2.compare(LT, EXP_LO));
            FloatVector t = xc.fma(LOG2E, ROUND), t2 = xc2.fma(LOG2E, ROUND);
            FloatVector k = t.sub(ROUND), k2 = t2.sub(ROUND);
            // r = x - k ln2 in two FMAs (one rounding each) instead of two multiplies and two subtractions.
            FloatVector r = k.fma(NEG_LN2_LO, k.fma(NEG_LN2_HI, xc)), r2 = k2.fma(NEG_LN2_LO, k2.fma(NEG_LN2_HI, xc2));
            FloatVector p = r.fma(E6, E5).fma(r, C4).fma(r, C3).fma(r, C2).fma(r.mul(r), r).add(1f);
            FloatVector p2 = r2.fma(E6, E5).fma(r2, C4).fma(r2, C3).fma(r2, C2).fma(r2.mul(r2), r2).add(1f);
            // 2^k from t's low bits (ROUND put k there), moved between lane types through memory: the Vector API's
            // interpreted reinterpret wraps a byte[] in a heap segment, and the first heap segment in the JVM made C2
            // recompile every kernel with type guards (per-call-packed GEMM 181 -> 140 GFLOPS here). A float-to-int
            // conversion of k instead (one trip through memory, not two) costs C2's fix-up for Java's NaN and overflow
            // rules: 0.086 against 0.076 ms in the measurement above. The trip goes through an aligned per-thread
            // buffer, not the output slot: where the output is not aligned to a vector (softmax rows of 197 floats)
            // each store crossed a cache line and its load could not be forwarded from the store; rows of 197 took
            // 205 ns against 90 for rows of 192 (one thread, Zen 4), 129 through the buffer.
            long vb = 4L * L, slot = (dstOff + i) * 4, slot2 = slot + vb;
            t.intoMemorySegment(trip, 0, NO);
            t2.intoMemorySegment(trip, vb, NO);
            IntVector.fromMemorySegment(SI, trip, 0, NO).sub(EXP_BIAS).lanewise(LSHL, 23).intoMemorySegment(trip, 0, NO);
            IntVector.fromMemorySegment(SI, trip, vb, NO).sub(EXP_BIAS).lanewise(LSHL, 23).intoMemorySegment(trip, vb, NO);
            FloatVector e = p.mul(FloatVector.fromMemorySegment(S, trip, 0, NO));
            FloatVector e2 = p2.mul(FloatVector.fromMemorySegment(S, trip, vb, NO));
            e.intoMemorySegment(dst, slot, NO);
            e2.intoMemorySegment(dst, slot2, NO);
            vsum = e.add(vsum);
            vsum = e2.add(vsum);
        }
        // The last odd vector: the same steps.
        for (; i <= n - L; i += L) {
            if (ahead) {
                FloatVector v = FloatVector.fromMemorySegment(S, src, (nextOff + i) * 4, NO);
                vmax = v.blend(vmax, v.compare(GT, vmax).not());
            }
            FloatVector x = FloatVector.fromMemorySegment(S, src, (srcOff + i) * 4, NO).sub(shift);
            FloatVector xc = x.blend(EXP_HI, x.compare(GT, EXP_HI)).blend(EXP_LO, x.compare(LT, EXP_LO));
            FloatVector t = xc.fma(LOG2E, ROUND);
            FloatVector k = t.sub(ROUND);
            FloatVector r = k.fma(NEG_LN2_LO, k.fma(NEG_LN2_HI, xc));
            FloatVector p = r.fma(E6, E5).fma(r, C4).fma(r, C3).fma(r, C2).fma(r.mul(r), r).add(1f);
            t.intoMemorySegment(trip, 0, NO);
            IntVector.fromMemorySegment(SI, trip, 0, NO).sub(EXP_BIAS).lanewise(LSHL, 23).intoMemorySegment(trip, 0, NO);
            FloatVector e = p.mul(FloatVector.fromMemorySegment(S, trip, 0, NO));
            e.intoMemorySegment(dst, (dstOff + i) * 4, NO);
            vsum = e.add(vsum);
        }
        float s = 0f, mx = Float.NEGATIVE_INFINITY;
        if (summed) {
            // Folded in registers, in sum()'s order (SimdSpecies.FOLD8): through the array, a row waited about 95
            // cycles for its sum and more for its max, sixteen Math.max in a chain.
            FloatVector t = vsum;
            if (L >= 16) t = t.rearrange(SimdSpecies.FOLD8).add(t);
            if (L >= 8) t = t.rearrange(SimdSpecies.FOLD4).add(t);
            t = t.rearrange(SimdSpecies.FOLD2).add(t);
            s = t.rearrange(SimdSpecies.FOLD1).add(t).lane(0);
            if (ahead) {
                // The lanes hold no NaN (they were passed over above); which of -0.0 and 0.0 wins does not change
                // any e^(x - max).
                FloatVector m = vmax, o;
                if (L >= 16) { o = m.rearrange(SimdSpecies.FOLD8); m = m.blend(o, o.compare(GT, m)); }
                if (L >= 8) { o = m.rearrange(SimdSpecies.FOLD4); m = m.blend(o, o.compare(GT, m)); }
                o = m.rearrange(SimdSpecies.FOLD2);
                m = m.blend(o, o.compare(GT, m));
                o = m.rearrange(SimdSpecies.FOLD1);
                mx = m.blend(o, o.compare(GT, m)).lane(0);
            }
        }
        if (ahead) nextMax[0] = mx;
        if (i < n) s += expTail(src, srcOff + i, dst, dstOff + i, (int) (n - i), shift, nextOff + i, ahead ? nextMax : null, trip);
        return summed ? s : 0f;
    }

    /**
     * {@link #expShift}'s last n < L floats as one masked vector, the same steps (2^k through trip, L floats): a
     * Math.exp per float took 8-10 ns, and a softmax over rows of 10 floats 94 ns a row, 52 this way (one thread, Zen
     * 4). Returns their sum, folded in sum()'s order; with nextMax, also nextMax[0] = the larger of it and the n floats
     * at src[nextOff..], NaNs passed over as in expShift. The steps are written out once more rather than shared with
     * expShift's odd-vector loop: with that loop masked to take the tail as well, C2's code for expShift ran 70 times
     * slower on every row, whole vectors included; with the odd vector sent here, its two extra folds made rows of 208
     * floats 7% slower.
     */
    private static float expTail(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int n, float shift, long nextOff, float[] nextMax,
                                 MemorySegment trip) {
        VectorMask<Float> m = S.indexInRange(0, n);
        FloatVector x = FloatVector.fromMemorySegment(S, src, srcOff * 4, NO, m).sub(shift);
        FloatVector xc = x.blend(EXP_HI, x.compare(GT, EXP_HI)).blend(EXP_LO, x.compare(LT, EXP_LO));
        FloatVector t = xc.fma(LOG2E, ROUND);
        FloatVector k = t.sub(ROUND);
        FloatVector r = k.fma(NEG_LN2_LO, k.fma(NEG_LN2_HI, xc));
        FloatVector p = r.fma(E6, E5).fma(r, C4).fma(r, C3).fma(r, C2).fma(r.mul(r), r).add(1f);
        t.intoMemorySegment(trip, 0, NO);
        IntVector.fromMemorySegment(SI, trip, 0, NO).sub(EXP_BIAS).lanewise(LSHL, 23).intoMemorySegment(trip, 0, NO);
        FloatVector e = p.mul(FloatVector.fromMemorySegment(S, trip, 0, NO)).blend(0f, m.not());
        e.intoMemorySegment(dst, dstOff * 4, NO, m);
        FloatVector f = e;
        if (L >= 16) f = f.rearrange(SimdSpecies.FOLD8).add(f);
        if (L >= 8) f = f.rearrange(SimdSpecies.FOLD4).add(f);
        f = f.rearrange(SimdSpecies.FOLD2).add(f);
        float sum = f.rearrange(SimdSpecies.FOLD1).add(f).lane(0);
        if (nextMax != null) {
            FloatVector v = FloatVector.fromMemorySegment(S, src, nextOff * 4, NO, m), o;
            // Lanes past n and NaNs become -inf: compare and blend, as the loop's running max.
            FloatVector mx = v.blend(Float.NEGATIVE_INFINITY, v.compare(GT, Float.NEGATIVE_INFINITY).and(m).not());
            if (L >= 16) { o = mx.rearrange(SimdSpecies.FOLD8); mx = mx.blend(o, o.compare(GT, mx)); }
            if (L >= 8) { o = mx.rearrange(SimdSpecies.FOLD4); mx = mx.blend(o, o.compare(GT, mx)); }
            o = mx.rearrange(SimdSpecies.FOLD2);
            mx = mx.blend(o, o.compare(GT, mx));
            o = mx.rearrange(SimdSpecies.FOLD1);
            nextMax[0] = Math.max(nextMax[0], mx.blend(o, o.compare(GT, mx)).lane(0));
        }
        return sum;
    }

    // ------------------------------------------------------------------------------------------------ activations

    /** y = act(x) over n floats (y may be x). */
    static void activation(Activation a, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        switch (a) {
            case NONE -> { if (x != y || xOff != yOff) MemorySegment.copy(x, xOff * 4, y, yOff * 4, n * 4); }
            case GELU -> gelu(x, xOff, y, yOff, n);
            case GELU_TANH -> geluTanh(x, xOff, y, yOff, n);
            case TANH -> tanh(x, xOff, y, yOff, n);
            case RELU -> relu(x, xOff, y, yOff, n);
        }
    }

    /** dx += act'(x) * dy over n floats, or dx = act'(x) * dy without add (dx may then be x). */
    static void activationBackward(Activation a, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n, boolean add) {
        switch (a) {
            case NONE -> identityGrad(dy, dyOff, dx, dxOff, n, add);
            case GELU -> geluGrad(x, xOff, dy, dyOff, dx, dxOff, n, add);
            case GELU_TANH -> geluTanhGrad(x, xOff, dy, dyOff, dx, dxOff, n, add);
            case TANH -> tanhGrad(x, xOff, dy, dyOff, dx, dxOff, n, add);
            case RELU -> reluGrad(x, xOff, dy, dyOff, dx, dxOff, n, add);
        }
    }

    /** e[i] = e^(2 u(x)), where u is the argument of tanh in the tanh GELU (or x itself when cubic is false). */
    private static void tanhExp(MemorySegment x, long xOff, MemorySegment e, int m, boolean cubic) {
        int i = 0;
        for (; i <= m - L; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO);
            FloatVector u = cubic ? v.mul(v).mul(GELU_C * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI).mul(v) : v;
            u.mul(2f).intoMemorySegment(e, (long) i * 4, NO);
        }
        for (; i < m; i++) {
            float v = x.getAtIndex(F, xOff + i);
            e.setAtIndex(F, i, 2f * (cubic ? SQRT_2_OVER_PI * (v + GELU_C * v * v * v) : v));
        }
        expShift(e, 0, e, 0, m, 0f, false);
    }

    /**
     * x Phi(x) = x/2 (1 + erf(z)), z = x / sqrt 2, in one pass without an exponential: erf(z) = z P(z^2) / Q(z^2), a
     * rational fit of degree 5/5 in z^2 on |z| <= 3.9 (relative error 1.8e-8 in double; bench/scripts/fit_rational.py),
     * z^2 clamped there and erf clamped to [-1, 1], so that far out x/2 (1 + erf) is exactly x or 0. Abramowitz-Stegun
     * through e^{-z^2} took twice the instructions and a second pass.
     */
    static void gelu(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO);
            FloatVector ax = v.abs();
            FloatVector xc = ax.blend(GELU_X_MAX, ax.compare(GT, GELU_X_MAX));
            FloatVector s = xc.mul(xc);
            FloatVector p = s.fma(G_P5, G_P4).fma(s, V_G_P3).fma(s, V_G_P2).fma(s, V_G_P1).fma(s, V_G_P0);
            FloatVector q = s.fma(G_Q5, G_Q4).fma(s, V_G_Q3).fma(s, V_G_Q2).fma(s, V_G_Q1).fma(s, ONE);
            ax.fma(xc.mul(p).div(q), v.mul(0.5f)).intoMemorySegment(y, (yOff + i) * 4, NO);
        }
        for (; i < n; i++) y.setAtIndex(F, yOff + i, (float) MathRef.act(Activation.GELU, x.getAtIndex(F, xOff + i)));
    }

    /**
     * y = GELU(x + bias) over n floats, x + bias saved to pre on the way when pre is not null: the GEMM epilogue of
     * Linear + bias + GELU in one pass over the tile. {@link #gelu}'s loop with the bias load in front; not folded into
     * it, because without type profiles C2 boxed every vector of the merged loop (KernelAllocationTest): both with
     * {@code v = v.add(bias)} under a condition and with the addend chosen between the bias and zeros (29 KB per call).
     */
    static void geluBias(MemorySegment x, long xOff, MemorySegment bias, long bOff, MemorySegment pre, long pOff,
                         MemorySegment y, long yOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).add(FloatVector.fromMemorySegment(S, bias, (bOff + i) * 4, NO));
            if (pre != null) v.intoMemorySegment(pre, (pOff + i) * 4, NO);
            FloatVector ax = v.abs();
            FloatVector xc = ax.blend(GELU_X_MAX, ax.compare(GT, GELU_X_MAX));
            FloatVector s = xc.mul(xc);
            FloatVector p = s.fma(G_P5, G_P4).fma(s, V_G_P3).fma(s, V_G_P2).fma(s, V_G_P1).fma(s, V_G_P0);
            FloatVector q = s.fma(G_Q5, G_Q4).fma(s, V_G_Q3).fma(s, V_G_Q2).fma(s, V_G_Q1).fma(s, ONE);
            ax.fma(xc.mul(p).div(q), v.mul(0.5f)).intoMemorySegment(y, (yOff + i) * 4, NO);
        }
        for (; i < n; i++) {
            float v = x.getAtIndex(F, xOff + i) + bias.getAtIndex(F, bOff + i);
            if (pre != null) pre.setAtIndex(F, pOff + i, v);
            y.setAtIndex(F, yOff + i, (float) MathRef.act(Activation.GELU, v));
        }
    }

    /**
     * GELU'(x) = Phi(x) + x phi(x) = 1/2 + x H(x^2), H a rational fit of degree 5/5 on |x| <= 5.7 (relative error 2.5e-7
     * in double; bench/scripts/fit_rational.py), exactly 1 or 0 beyond: one pass, no exponential.
     */
    static void geluGrad(MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n, boolean add) {
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO);
            FloatVector t = v.mul(v);
            t = t.blend(DGELU_T_MAX, t.compare(GT, DGELU_T_MAX));
            FloatVector p = t.fma(DGELU_P5, DGELU_P4).fma(t, V_DGELU_P3).fma(t, V_DGELU_P2).fma(t, V_DGELU_P1).fma(t, V_DGELU_P0);
            FloatVector q = t.fma(DGELU_Q5, DGELU_Q4).fma(t, V_DGELU_Q3).fma(t, V_DGELU_Q2).fma(t, V_DGELU_Q1).fma(t, ONE);
            FloatVector g = v.mul(p).div(q).add(0.5f);
            g = g.blend(1f, v.compare(GT, DGELU_X_MAX)).blend(0f, v.compare(LT, -DGELU_X_MAX));
            long o = (dxOff + i) * 4;
            FloatVector gy = FloatVector.fromMemorySegment(S, dy, (dyOff + i) * 4, NO);
            (add ? g.fma(gy, FloatVector.fromMemorySegment(S, dx, o, NO)) : g.mul(gy)).intoMemorySegment(dx, o, NO);
        }
        gradTail(Activation.GELU, x, xOff + i, dy, dyOff + i, dx, dxOff + i, 0, (int) (n - i), add);
    }

    /**
     * 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), in one pass: tanh(u) = u P(u^2) / Q(u^2), degree 4/4 in
     * u^2 on |u| <= 9 (relative error 2.1e-8 in double; bench/scripts/fit_rational.py), clamped as in {@link #gelu}.
     */
    static void geluTanh(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO);
            FloatVector u = v.mul(v).fma(GELU_C * SQRT_2_OVER_PI, SQRT_2_OVER_PI).mul(v);
            FloatVector t = u.mul(u);
            t = t.blend(TANH_T_MAX, t.compare(GT, TANH_T_MAX));
            FloatVector p = t.fma(TANH_P4, TANH_P3).fma(t, V_TANH_P2).fma(t, V_TANH_P1).fma(t, V_TANH_P0);
            FloatVector q = t.fma(TANH_Q4, TANH_Q3).fma(t, V_TANH_Q2).fma(t, V_TANH_Q1).fma(t, ONE);
            FloatVector th = u.mul(p).div(q);
            th = th.blend(1f, th.compare(GT, 1f)).blend(-1f, th.compare(LT, -1f));
            FloatVector half = v.mul(0.5f);
            th.fma(half, half).intoMemorySegment(y, (yOff + i) * 4, NO);
        }
        for (; i < n; i++) y.setAtIndex(F, yOff + i, (float) MathRef.act(Activation.GELU_TANH, x.getAtIndex(F, xOff + i)));
    }

    static void geluTanhGrad(MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n, boolean add) {
        MemorySegment e = SCRATCH.get();
        for (long b = 0; b < n; b += BLOCK) {
            int m = (int) Math.min(BLOCK, n - b), i = 0;
            tanhExp(x, xOff + b, e, m, true);
            for (; i <= m - L; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + b + i) * 4, NO);
                FloatVector ev = FloatVector.fromMemorySegment(S, e, (long) i * 4, NO);
                // g = (1 + th) / 2 + x / 2 (1 - th^2) du = (1 + th) (1/2 + x/2 (1 - th) du), with 1 + th = 2e / (e + 1) and
                // 1 - th = 2 / (e + 1) from e = e^{2u}: no cancellation where th rounds to -1 (x below -5).
                FloatVector oneMinus = FloatVector.broadcast(S, 2f).div(ev.add(1f));
                FloatVector onePlus = ev.mul(oneMinus);
                FloatVector du = v.mul(v).mul(3 * GELU_C * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI);
                FloatVector g = onePlus.mul(v.mul(0.5f).mul(oneMinus).fma(du, HALF));
                // Past |x| = 9 it is 1 or 0 in float; there 2u passes expShift's clamps, and x du outgrows 1 - th (or
                // overflows against 1 + th = 0).
                g = g.blend(1f, v.compare(GT, 9f)).blend(0f, v.compare(LT, -9f));
                long o = (dxOff + b + i) * 4;
                FloatVector gy = FloatVector.fromMemorySegment(S, dy, (dyOff + b + i) * 4, NO);
                (add ? g.fma(gy, FloatVector.fromMemorySegment(S, dx, o, NO)) : g.mul(gy)).intoMemorySegment(dx, o, NO);
            }
            gradTail(Activation.GELU_TANH, x, xOff + b, dy, dyOff + b, dx, dxOff + b, i, m, add);
        }
    }

    static void tanh(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        MemorySegment e = SCRATCH.get();
        for (long b = 0; b < n; b += BLOCK) {
            int m = (int) Math.min(BLOCK, n - b), i = 0;
            tanhExp(x, xOff + b, e, m, false);
            for (; i <= m - L; i += L) {
                FloatVector ev = FloatVector.fromMemorySegment(S, e, (long) i * 4, NO);
                FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(ev.add(1f))).intoMemorySegment(y, (yOff + b + i) * 4, NO);
            }
            for (; i < m; i++) y.setAtIndex(F, yOff + b + i, (float) MathRef.act(Activation.TANH, x.getAtIndex(F, xOff + b + i)));
        }
    }

    static void tanhGrad(MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n, boolean add) {
        MemorySegment e = SCRATCH.get();
        for (long b = 0; b < n; b += BLOCK) {
            int m = (int) Math.min(BLOCK, n - b), i = 0;
            tanhExp(x, xOff + b, e, m, false);
            for (; i <= m - L; i += L) {
                FloatVector ev = FloatVector.fromMemorySegment(S, e, (long) i * 4, NO);
                FloatVector th = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(ev.add(1f)));
                FloatVector g = th.mul(th).neg().add(1f);
                long o = (dxOff + b + i) * 4;
                FloatVector gy = FloatVector.fromMemorySegment(S, dy, (dyOff + b + i) * 4, NO);
                (add ? g.fma(gy, FloatVector.fromMemorySegment(S, dx, o, NO)) : g.mul(gy)).intoMemorySegment(dx, o, NO);
            }
            gradTail(Activation.TANH, x, xOff + b, dy, dyOff + b, dx, dxOff + b, i, m, add);
        }
    }

    static void relu(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).max(0f).intoMemorySegment(y, (yOff + i) * 4, NO);
        for (; i < n; i++) y.setAtIndex(F, yOff + i, Math.max(x.getAtIndex(F, xOff + i), 0f));
    }

    static void reluGrad(MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n, boolean add) {
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector g = FloatVector.fromMemorySegment(S, dy, (dyOff + i) * 4, NO);
            VectorMask<Float> on = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).compare(jdk.incubator.vector.VectorOperators.GT, 0f);
            FloatVector d = add ? FloatVector.fromMemorySegment(S, dx, (dxOff + i) * 4, NO) : FloatVector.zero(S);
            d.add(g, on).intoMemorySegment(dx, (dxOff + i) * 4, NO);
        }
        for (; i < n; i++) {
            float g = x.getAtIndex(F, xOff + i) > 0f ? dy.getAtIndex(F, dyOff + i) : 0f;
            dx.setAtIndex(F, dxOff + i, add ? dx.getAtIndex(F, dxOff + i) + g : g);
        }
    }

    static void identityGrad(MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n, boolean add) {
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector g = FloatVector.fromMemorySegment(S, dy, (dyOff + i) * 4, NO);
            (add ? g.add(FloatVector.fromMemorySegment(S, dx, (dxOff + i) * 4, NO)) : g).intoMemorySegment(dx, (dxOff + i) * 4, NO);
        }
        for (; i < n; i++) dx.setAtIndex(F, dxOff + i, (add ? dx.getAtIndex(F, dxOff + i) : 0f) + dy.getAtIndex(F, dyOff + i));
    }

    private static void gradTail(Activation a, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, int i, int n, boolean add) {
        for (; i < n; i++) {
            float g = (float) (MathRef.actGrad(a, x.getAtIndex(F, xOff + i)) * dy.getAtIndex(F, dyOff + i));
            dx.setAtIndex(F, dxOff + i, add ? dx.getAtIndex(F, dxOff + i) + g : g);
        }
    }
}
