package dev.tessera.vit.data;

import java.util.SplittableRandom;

/**
 * Mixup (Zhang et al.) and CutMix (Yun et al.) on a whole batch, as timm applies them: each image is mixed with the
 * image at the mirrored batch position, with lambda ~ Beta(alpha, alpha); CutMix pastes a box of area 1 - lambda and
 * corrects lambda to the box actually pasted. Targets become soft: lambda * onehot(y) + (1 - lambda) * onehot(y').
 *
 * @param mixupAlpha  Beta parameter for Mixup (0 = off)
 * @param cutmixAlpha Beta parameter for CutMix (0 = off)
 * @param prob        probability that a batch is mixed at all
 * @param switchProb  when both are on, probability of CutMix rather than Mixup
 */
public record Mixing(float mixupAlpha, float cutmixAlpha, float prob, float switchProb) {

    public static final Mixing NONE = new Mixing(0, 0, 0, 0);

    public Mixing {
        if (mixupAlpha < 0 || cutmixAlpha < 0) throw new IllegalArgumentException("mixup/cutmix alpha must be >= 0");
        if (prob < 0 || prob > 1 || switchProb < 0 || switchProb > 1) throw new IllegalArgumentException("mixing probabilities must be in [0, 1]");
    }

    public boolean enabled() { return prob > 0 && (mixupAlpha > 0 || cutmixAlpha > 0); }

    /** Mixes images (B, C, H, W) in place and returns soft targets (B, classes). */
    public float[] apply(float[] images, int[] labels, int b, int c, int h, int w, int classes, SplittableRandom rng) {
        float[] soft = new float[b * classes];
        boolean mix = rng.nextDouble() < prob;
        boolean cut = cutmixAlpha > 0 && (mixupAlpha == 0 || rng.nextDouble() < switchProb);
        double lam = 1;
        if (mix) lam = beta(rng, cut ? cutmixAlpha : mixupAlpha);
        int px = c * h * w;
        if (mix && !cut) {
            float[] orig = images.clone();
            for (int i = 0; i < b; i++) {
                int j = b - 1 - i;
                for (int k = 0; k < px; k++) images[i * px + k] = (float) (lam * orig[i * px + k] + (1 - lam) * orig[j * px + k]);
            }
        } else if (mix) {
            // A box of area (1 - lam) * H * W at a random centre, clipped to the image.
            double r = Math.sqrt(1 - lam);
            int bh = (int) (h * r), bw = (int) (w * r), cy = rng.nextInt(h), cx = rng.nextInt(w);
            int y0 = Math.max(0, cy - bh / 2), y1 = Math.min(h, cy + bh / 2), x0 = Math.max(0, cx - bw / 2), x1 = Math.min(w, cx + bw / 2);
            float[] orig = images.clone();
            for (int i = 0; i < b; i++) {
                int j = b - 1 - i;
                for (int ch = 0; ch < c; ch++) for (int y = y0; y < y1; y++) for (int x = x0; x < x1; x++) {
                    int o = (ch * h + y) * w + x;
                    images[i * px + o] = orig[j * px + o];
                }
            }
            lam = 1 - (double) (y1 - y0) * (x1 - x0) / (h * w);
        }
        for (int i = 0; i < b; i++) {
            soft[i * classes + labels[i]] += (float) lam;
            soft[i * classes + labels[b - 1 - i]] += (float) (1 - lam);
        }
        return soft;
    }

    /** Beta(a, a) from two Gamma(a) draws (Marsaglia-Tsang, boosted for a < 1). */
    static double beta(SplittableRandom rng, double a) {
        double x = gamma(rng, a), y = gamma(rng, a);
        return x + y == 0 ? 0.5 : x / (x + y);
    }

    static double gamma(SplittableRandom rng, double a) {
        if (a < 1) return gamma(rng, a + 1) * Math.pow(rng.nextDouble(), 1 / a);
        double d = a - 1.0 / 3, c = 1 / Math.sqrt(9 * d);
        while (true) {
            double x, v;
            do {
                x = gaussian(rng);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = rng.nextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
        }
    }

    private static double gaussian(SplittableRandom rng) {
        double u1 = rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(Math.max(u1, 1e-300))) * Math.cos(2 * Math.PI * u2);
    }
}
