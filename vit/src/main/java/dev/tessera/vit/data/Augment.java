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
}
