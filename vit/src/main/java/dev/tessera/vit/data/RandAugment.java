package dev.tessera.vit.data;

import java.util.SplittableRandom;

/**
 * RandAugment (Cubuk et al. 2020) as torchvision 0.14 has it: {@code ops} operations drawn uniformly with replacement
 * from the fourteen below, each at magnitude {@code magnitude} of 30 (torchvision's 31 bins), signed ones with a random
 * sign. Images arrive normalised ((v - mean) / std); the operations work on pixel values in [0, 1] and hand them back
 * normalised. Geometric ones sample nearest-neighbour and fill with black, as torchvision does by default.
 */
public final class RandAugment implements Augment {
    /** The policy: how many operations per image, at what magnitude (0 to 30). NONE turns RandAugment off. */
    public record Policy(int ops, int magnitude) {
        public static final Policy NONE = new Policy(0, 0);

        public Policy {
            if (ops < 0) throw new IllegalArgumentException("RandAugment ops must be >= 0, got " + ops);
            if (magnitude < 0 || magnitude > 30) throw new IllegalArgumentException("RandAugment magnitude must be in [0, 30], got " + magnitude);
        }

        public boolean enabled() { return ops > 0; }
    }

    /** The operations, in torchvision's order. */
    public enum Op { IDENTITY, SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE, BRIGHTNESS, COLOR, CONTRAST, SHARPNESS,
        POSTERIZE, SOLARIZE, AUTO_CONTRAST, EQUALIZE }

    private final Policy policy;
    private final float mean, std;

    public RandAugment(Policy policy, float mean, float std) {
        if (!(std > 0)) throw new IllegalArgumentException("std must be > 0, got " + std);
        this.policy = policy;
        this.mean = mean;
        this.std = std;
    }

    @Override
    public void apply(float[] img, int c, int h, int w, float[] scratch, SplittableRandom rng) {
        int n = c * h * w;
        for (int i = 0; i < n; i++) img[i] = img[i] * std + mean;
        Op[] ops = Op.values();
        for (int k = 0; k < policy.ops(); k++) {
            Op op = ops[rng.nextInt(ops.length)];
            float sign = rng.nextBoolean() ? -1f : 1f;
            apply(op, policy.magnitude() / 30f, sign, img, c, h, w, scratch);
        }
        for (int i = 0; i < n; i++) img[i] = (img[i] - mean) / std;
    }

    /**
     * One operation on pixel values in [0, 1], in place; {@code level} is magnitude / 30, {@code sign} +-1 for the
     * signed ones. Public for the tests.
     */
    public static void apply(Op op, float level, float sign, float[] img, int c, int h, int w, float[] scratch) {
        switch (op) {
            case IDENTITY -> { }
            case SHEAR_X -> affine(img, c, h, w, scratch, 1, sign * 0.3f * level, 0, 0, 1, 0);
            case SHEAR_Y -> affine(img, c, h, w, scratch, 1, 0, 0, sign * 0.3f * level, 1, 0);
            case TRANSLATE_X -> affine(img, c, h, w, scratch, 1, 0, -sign * Math.round(150f / 331 * w * level), 0, 1, 0);
            case TRANSLATE_Y -> affine(img, c, h, w, scratch, 1, 0, 0, 0, 1, -sign * Math.round(150f / 331 * h * level));
            case ROTATE -> {
                double a = Math.toRadians(sign * 30f * level);
                float cos = (float) Math.cos(a), sin = (float) Math.sin(a);
                // Inverse map about the centre: source = R(-a) (dest - centre) + centre.
                float cx = (w - 1) / 2f, cy = (h - 1) / 2f;
                affine(img, c, h, w, scratch, cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy);
            }
            case BRIGHTNESS -> blend(img, c * h * w, null, 0f, 1 + sign * 0.9f * level);
            case COLOR -> {
                if (c == 3) {
                    int plane = h * w;
                    for (int i = 0; i < plane; i++) {
                        float g = grey(img, i, plane);
                        for (int ch = 0; ch < 3; ch++) scratch[ch * plane + i] = g;
                    }
                    blend(img, c * plane, scratch, 0f, 1 + sign * 0.9f * level);
                }
            }
            case CONTRAST -> {
                int plane = h * w;
                double s = 0;
                for (int i = 0; i < plane; i++) s += c == 3 ? grey(img, i, plane) : img[i];
                blend(img, c * plane, null, (float) (s / plane), 1 + sign * 0.9f * level);
            }
            case SHARPNESS -> {
                // PIL's SMOOTH filter (centre 5, neighbours 1, / 13) inside, border pixels kept.
                System.arraycopy(img, 0, scratch, 0, c * h * w);
                for (int ch = 0; ch < c; ch++) {
                    for (int y = 1; y < h - 1; y++) {
                        for (int x = 1; x < w - 1; x++) {
                            int o = (ch * h + y) * w + x;
                            float s = 4 * img[o];
                            for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++) s += img[o + dy * w + dx];
                            scratch[o] = s / 13f;
                        }
                    }
                }
                blend(img, c * h * w, scratch, 0f, 1 + sign * 0.9f * level);
            }
            case POSTERIZE -> {
                int bits = 8 - Math.round(level * 30 / 7.5f);
                int mask = ~((1 << (8 - bits)) - 1) & 0xFF;
                for (int i = 0; i < c * h * w; i++) img[i] = (toByte(img[i]) & mask) / 255f;
            }
            case SOLARIZE -> {
                float threshold = 1f - level;
                for (int i = 0; i < c * h * w; i++) if (img[i] >= threshold) img[i] = 1f - img[i];
            }
            case AUTO_CONTRAST -> {
                int plane = h * w;
                for (int ch = 0; ch < c; ch++) {
                    float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
                    for (int i = 0; i < plane; i++) { lo = Math.min(lo, img[ch * plane + i]); hi = Math.max(hi, img[ch * plane + i]); }
                    if (hi > lo) for (int i = 0; i < plane; i++) img[ch * plane + i] = (img[ch * plane + i] - lo) / (hi - lo);
                }
            }
            case EQUALIZE -> equalize(img, c, h * w);
        }
    }

    private static int toByte(float v) {
        return Math.max(0, Math.min(255, Math.round(v * 255)));
    }

    private static float grey(float[] img, int i, int plane) {
        return 0.299f * img[i] + 0.587f * img[plane + i] + 0.114f * img[2 * plane + i];
    }

    /** img = clamp(other + f (img - other)) with other an image (or the constant {@code value} when null). */
    private static void blend(float[] img, int n, float[] other, float value, float f) {
        for (int i = 0; i < n; i++) {
            float o = other == null ? value : other[i];
            img[i] = Math.max(0f, Math.min(1f, o + f * (img[i] - o)));
        }
    }

    /** dest(x, y) = src(a x + b y + tx, d x + e y + ty), nearest neighbour, black outside. */
    private static void affine(float[] img, int c, int h, int w, float[] scratch, float a, float b, float tx, float d, float e, float ty) {
        System.arraycopy(img, 0, scratch, 0, c * h * w);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int sx = Math.round(a * x + b * y + tx), sy = Math.round(d * x + e * y + ty);
                boolean inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
                for (int ch = 0; ch < c; ch++) img[(ch * h + y) * w + x] = inside ? scratch[(ch * h + sy) * w + sx] : 0f;
            }
        }
    }

    /** PIL's ImageOps.equalize per channel: a 256-bin histogram, the last bin's count left out of the step. */
    private static void equalize(float[] img, int c, int plane) {
        int[] hist = new int[256];
        int[] lut = new int[256];
        for (int ch = 0; ch < c; ch++) {
            java.util.Arrays.fill(hist, 0);
            for (int i = 0; i < plane; i++) hist[toByte(img[ch * plane + i])]++;
            int last = 255;
            while (last > 0 && hist[last] == 0) last--;
            int step = (plane - hist[last]) / 255;
            if (step == 0) continue;
            int acc = step / 2;
            for (int v = 0; v < 256; v++) {
                lut[v] = Math.min(255, acc / step);
                acc += hist[v];
            }
            for (int i = 0; i < plane; i++) img[ch * plane + i] = lut[toByte(img[ch * plane + i])] / 255f;
        }
    }
}
