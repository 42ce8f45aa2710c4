package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.EXP;
import static jdk.incubator.vector.VectorOperators.TANH;

import dev.tessera.engine.kernels.Activation;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Vector activations. erf has no VectorOperator, so it is Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7) over EXP. */
final class SimdMath {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final float INV_SQRT2 = 0.70710678f, INV_SQRT_2PI = 0.39894228f, SQRT_2_OVER_PI = 0.7978845608f;
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    private SimdMath() {}

    static FloatVector erf(FloatVector z) {
        FloatVector az = z.lanewise(ABS);
        FloatVector t = az.fma(P, 1f);
        t = FloatVector.broadcast(S, 1f).div(t);
        FloatVector poly = t.fma(A5, A4).fma(t, FloatVector.broadcast(S, A3)).fma(t, FloatVector.broadcast(S, A2))
                .fma(t, FloatVector.broadcast(S, A1)).mul(t);
        FloatVector e = az.mul(az).neg().lanewise(EXP);
        FloatVector y = poly.fma(e.neg(), FloatVector.broadcast(S, 1f));
        return y.blend(y.neg(), z.lt(0f));
    }

    static FloatVector act(Activation a, FloatVector x) {
        return switch (a) {
            case NONE -> x;
            case GELU -> x.mul(0.5f).mul(erf(x.mul(INV_SQRT2)).add(1f));
            case GELU_TANH -> {
                FloatVector u = x.mul(x).mul(0.044715f * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI).mul(x);
                yield x.mul(0.5f).mul(u.lanewise(TANH).add(1f));
            }
        };
    }

    static FloatVector actGrad(Activation a, FloatVector x) {
        return switch (a) {
            case NONE -> FloatVector.broadcast(S, 1f);
            case GELU -> {
                FloatVector cdf = erf(x.mul(INV_SQRT2)).add(1f).mul(0.5f);
                FloatVector pdf = x.mul(x).mul(-0.5f).lanewise(EXP).mul(INV_SQRT_2PI);
                yield x.fma(pdf, cdf);
            }
            case GELU_TANH -> {
                FloatVector x2 = x.mul(x);
                FloatVector u = x2.mul(0.044715f * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI).mul(x);
                FloatVector t = u.lanewise(TANH);
                FloatVector du = x2.mul(3 * 0.044715f * SQRT_2_OVER_PI).add(SQRT_2_OVER_PI);
                FloatVector sech2 = t.mul(t).neg().add(1f);
                yield t.add(1f).mul(0.5f).add(x.mul(0.5f).mul(sech2).mul(du));
            }
        };
    }
}
