package dev.tessera.vit.data;

import java.util.SplittableRandom;

/**
 * Seeded augmentations of one image (C, H, W) in floats, applied in place or into a scratch of the same size. Every
 * random choice comes from the generator passed in, so a batch's augmentations depend on (seed, epoch, batch) only.
 */
public interface Augment {
    void apply(float[] img, int c, int h, int w, float[] scratch, SplittableRandom rng);

    /** Pad by {@code pad} pixels of zero (the background after normalisation shifts it) and crop back at random. */
    static Augment randomCrop(int pad, float fill) {
        return (img, c, h, w, scratch, rng) -> {
            int dy = rng.nextInt(2 * pad + 1) - pad, dx = rng.nextInt(2 * pad + 1) - pad;
            if (dy == 0 && dx == 0) return;
            System.arraycopy(img, 0, scratch, 0, c * h * w);
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    int sy = y + dy;
                    for (int x = 0; x < w; x++) {
                        int sx = x + dx;
                        img[(ch * h + y) * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? scratch[(ch * h + sy) * w + sx] : fill;
                    }
                }
            }
        };
    }

    /** Mirror left-right with probability 1/2. */
    static Augment horizontalFlip() {
        return (img, c, h, w, scratch, rng) -> {
            if (!rng.nextBoolean()) return;
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    int row = (ch * h + y) * w;
                    for (int x = 0; x < w / 2; x++) {
                        float t = img[row + x];
                        img[row + x] = img[row + w - 1 - x];
                        img[row + w - 1 - x] = t;
                    }
                }
            }
        };
    }

    /**
     * Inception crop (torchvision's RandomResizedCrop): a box of scale [minScale, 1] of the area and aspect ratio in
     * [3/4, 4/3] (log-uniform), resized back to H x W bilinearly; ten tries, then the whole image.
     */
    static Augment inceptionCrop(float minScale) {
        return (img, c, h, w, scratch, rng) -> {
            int bh = h, bw = w, y0 = 0, x0 = 0;
            for (int attempt = 0; attempt < 10; attempt++) {
                double area = h * w * (minScale + (1 - minScale) * rng.nextDouble());
                double logR = Math.log(3.0 / 4) + (Math.log(4.0 / 3) - Math.log(3.0 / 4)) * rng.nextDouble();
                double ratio = Math.exp(logR);
                int cw = (int) Math.round(Math.sqrt(area * ratio)), ch = (int) Math.round(Math.sqrt(area / ratio));
                if (cw >= 1 && ch >= 1 && cw <= w && ch <= h) {
                    bw = cw;
                    bh = ch;
                    y0 = rng.nextInt(h - ch + 1);
                    x0 = rng.nextInt(w - cw + 1);
                    break;
                }
            }
            if (bh == h && bw == w) return;
            System.arraycopy(img, 0, scratch, 0, c * h * w);
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    float sy = Math.max(0, Math.min(bh - 1, (y + 0.5f) * bh / h - 0.5f)) + y0;
                    int ya = (int) sy, yb = Math.min(y0 + bh - 1, ya + 1);
                    float fy = sy - ya;
                    for (int x = 0; x < w; x++) {
                        float sx = Math.max(0, Math.min(bw - 1, (x + 0.5f) * bw / w - 0.5f)) + x0;
                        int xa = (int) sx, xb = Math.min(x0 + bw - 1, xa + 1);
                        float fx = sx - xa;
                        int base = ch * h * w;
                        img[base + y * w + x] = (1 - fy) * ((1 - fx) * scratch[base + ya * w + xa] + fx * scratch[base + ya * w + xb])
                                + fy * ((1 - fx) * scratch[base + yb * w + xa] + fx * scratch[base + yb * w + xb]);
                    }
                }
            }
        };
    }
}
