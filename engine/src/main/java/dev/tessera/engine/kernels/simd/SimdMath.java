package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.LSHL;

import dev.tessera.engine.kernels.Activation;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector special functions built from plain arithmetic. VectorOperators.EXP/TANH are library calls per vector (measured
 * here ~100 cycles per 16 lanes), so exp is Cephes' expf: range reduction by ln 2, a degree-6 polynomial, and 2^n put
 * into the exponent bits (relative error ~2 ulp). erf is Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7) over that exp.
 */
final class SimdMath {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final VectorSpecies<Integer> SI = S.vectorShape().withLanes(int.class);
    private static final float INV_SQRT2 = 0.70710678f, INV_SQRT_2PI = 0.39894228f, SQRT_2_OVER_PI = 0.7978845608f;
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float EXP_HI = 88.0f, EXP_LO = -87.3365447504f;
    private static final float ROUND = 12582912f; // 1.5 * 2^23: adding it rounds to the nearest integer
    private static final FloatVector C3 = FloatVector.broadcast(S, 8.3334519073E-3f), C4 = FloatVector.broadcast(S, 4.1665795894E-2f),
            C5 = FloatVector.broadcast(S, 1.6666665459E-1f), C6 = FloatVector.broadcast(S, 5.0000001201E-1f);
    private static final IntVector EXP_BIAS = IntVector.broadcast(SI, 0x4B400000 - 127);

    // Lane i + h folded onto lane i, for h = 8, 4, 2, 1: a fixed pairwise order for sum(). Separate static finals
    // (not an array) so that C2 sees constant shuffles and intrinsifies the rearranges.
    private static final int L = S.length();
    private static final jdk.incubator.vector.VectorShuffle<Float> FOLD8 = fold(8), FOLD4 = fold(4), FOLD2 = fold(2), FOLD1 = fold(1);

    private static jdk.incubator.vector.VectorShuffle<Float> fold(int h) {
        return h < L ? jdk.incubator.vector.VectorShuffle.iota(S, h, 1, true) : null;
    }

    private SimdMath() {}

    @SuppressWarnings("unchecked")
    private static jdk.incubator.vector.VectorShuffle<Float>[] folds() {
        int levels = Integer.numberOfTrailingZeros(S.length());
        jdk.incubator.vector.VectorShuffle<Float>[] f = new jdk.incubator.vector.VectorShuffle[levels];
        for (int k = 0, half = S.length() / 2; k < levels; k++, half /= 2) f[k] = jdk.incubator.vector.VectorShuffle.iota(S, half, 1, true);
        return f;
    }

    /**
     * Sum of the lanes in a fixed pairwise order. reduceLanes(ADD) is free to pick its order, and C2's intrinsic and
     * the Java fallback (used before C2 compiles a method) pick different ones: the same step then gave different
     * bits early and late in a run, and a resumed training run drifted from the uninterrupted one.
     */
    static float sum(FloatVector v) {
        if (L > 8) v = v.add(v.rearrange(FOLD8));
        if (L > 4) v = v.add(v.rearrange(FOLD4));
        if (L > 2) v = v.add(v.rearrange(FOLD2));
        if (L > 1) v = v.add(v.rearrange(FOLD1));
        return v.lane(0);
    }

    /**
     * e^x per lane; exactly 0 below the float range (so -inf masks give 0), e^88 at most above it, NaN stays NaN (min and
     * max propagate it). Kept small on purpose: C2 must inline it into every caller, or the vectors get boxed.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.min(EXP_HI).max(EXP_LO);
        FloatVector t = xc.fma(LOG2E, ROUND);
        FloatVector n = t.sub(ROUND);
        FloatVector r = xc.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        FloatVector p = r.fma(1.9875691500E-4f, 1.3981999507E-3f).fma(r, C3).fma(r, C4).fma(r, C5).fma(r, C6);
        p = p.fma(r.mul(r), r).add(1f);
        FloatVector scale = t.reinterpretAsInts().sub(EXP_BIAS).lanewise(LSHL, 23).reinterpretAsFloats();
        return p.mul(scale).blend(0f, x.lt(EXP_LO));
    }

    /** tanh(x) = 1 - 2 / (e^{2x} + 1), saturating cleanly at +-1. */
    static FloatVector tanh(FloatVector x) {
        FloatVector e = exp(x.mul(2f));
        return FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(e.add(1f)));
    }

    static FloatVector erf(FloatVector z) {
        FloatVector az = z.lanewise(ABS);
        FloatVector t = az.fma(P, 1f);
        t = FloatVector.broadcast(S, 1f).div(t);
        FloatVector poly = t.fma(A5, A4).fma(t, FloatVector.broadcast(S, A3)).fma(t, FloatVector.broadcast(S, A2))
                .fma(t, FloatVector.broadcast(S, A1)).mul(t);
        FloatVector e = exp(az.mul(az).neg());
        FloatVector y = poly.fma(e.neg(), FloatVector.broadcast(S, 1f));
        return y.blend(y.neg(), z.lt(0f));
    }

    private static final java.nio.ByteOrder NO = java.nio.ByteOrder.nativeOrder();
    private static final java.lang.foreign.ValueLayout.OfFloat F = java.lang.foreign.ValueLayout.JAVA_FLOAT;

    /**
     * y = act(x) over n floats (y may be x). One loop per activation: with the switch inside the loop C2 declined to
     * inline erf ("callee is too large") and boxed every vector crossing that call, about 2x slower.
     */
    static void activation(Activation a, java.lang.foreign.MemorySegment x, long xOff, java.lang.foreign.MemorySegment y, long yOff, long n) {
        long i = 0;
        switch (a) {
            case NONE -> { for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).intoMemorySegment(y, (yOff + i) * 4, NO); }
            case GELU -> { for (; i <= n - L; i += L) gelu(FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO)).intoMemorySegment(y, (yOff + i) * 4, NO); }
            case GELU_TANH -> { for (; i <= n - L; i += L) geluTanh(FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO)).intoMemorySegment(y, (yOff + i) * 4, NO); }
            case TANH -> { for (; i <= n - L; i += L) tanh(FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO)).intoMemorySegment(y, (yOff + i) * 4, NO); }
        }
        for (; i < n; i++) y.setAtIndex(F, yOff + i, (float) dev.tessera.engine.kernels.MathRef.act(a, x.getAtIndex(F, xOff + i)));
    }

    static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul(INV_SQRT2)).add(1f));
    }

    static FloatVector geluTanh(FloatVector x) {
        FloatVector u = x.mul(x).mul(0.044715f * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI).mul(x);
        return x.mul(0.5f).mul(tanh(u).add(1f));
    }

    static FloatVector geluGrad(FloatVector x) {
        FloatVector cdf = erf(x.mul(INV_SQRT2)).add(1f).mul(0.5f);
        FloatVector pdf = exp(x.mul(x).mul(-0.5f)).mul(INV_SQRT_2PI);
        return x.fma(pdf, cdf);
    }

    static FloatVector geluTanhGrad(FloatVector x) {
        FloatVector x2 = x.mul(x);
        FloatVector u = x2.mul(0.044715f * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI).mul(x);
        FloatVector t = tanh(u);
        FloatVector du = x2.mul(3 * 0.044715f * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI);
        FloatVector sech2 = t.mul(t).neg().add(1f);
        return t.add(1f).mul(0.5f).add(x.mul(0.5f).mul(sech2).mul(du));
    }

    static FloatVector tanhGrad(FloatVector x) {
        FloatVector t = tanh(x);
        return t.mul(t).neg().add(1f);
    }
}
