package dev.tessera.engine.kernels;

/** Scalar special functions in double, accurate to ~1e-15: the references the fast versions are tested against. */
public final class MathRef {
    private MathRef() {}

    private static final double TWO_OVER_SQRT_PI = 1.1283791670955126;
    private static final double INV_SQRT2 = 0.7071067811865476;
    private static final double INV_SQRT_2PI = 0.3989422804014327;
    private static final double SQRT_2_OVER_PI = 0.7978845608028654;

    public static double erf(double x) {
        double ax = Math.abs(x);
        if (ax < 3.0) {
            // Maclaurin series; at |x| < 3 the terms stay small enough for double.
            double term = x, sum = x, x2 = x * x;
            for (int n = 1; n < 200; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            return TWO_OVER_SQRT_PI * sum;
        }
        if (ax > 9.0) return Math.signum(x);
        // erfc by its continued fraction (modified Lentz), accurate for large |x|.
        double tiny = 1e-300, f = ax, c = ax, d = 0;
        for (int n = 1; n < 300; n++) {
            double an = n / 2.0;
            d = ax + an * d;
            d = Math.abs(d) < tiny ? tiny : d;
            c = ax + an / c;
            c = Math.abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) break;
        }
        double erfc = Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
        return Math.signum(x) * (1 - erfc);
    }

    public static double gelu(double x) {
        return 0.5 * x * (1 + erf(x * INV_SQRT2));
    }

    public static double geluGrad(double x) {
        return 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    }

    public static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    }

    public static double geluTanhGrad(double x) {
        double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        double t = Math.tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    }

    public static double act(Activation a, double x) {
        return switch (a) {
            case NONE -> x;
            case GELU -> gelu(x);
            case GELU_TANH -> geluTanh(x);
            case TANH -> Math.tanh(x);
            case RELU -> Math.max(x, 0);
        };
    }

    public static double actGrad(Activation a, double x) {
        return switch (a) {
            case NONE -> 1;
            case GELU -> geluGrad(x);
            case GELU_TANH -> geluTanhGrad(x);
            case TANH -> 1 - Math.tanh(x) * Math.tanh(x);
            case RELU -> x > 0 ? 1 : 0;
        };
    }

    /** Counter-based uniform in [0, 1): the same value for (seed, i) on every path and thread (SplitMix64 finaliser). */
    public static float uniform(long seed, long i) {
        long z = seed + (i + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) * 0x1.0p-24f;
    }
}
