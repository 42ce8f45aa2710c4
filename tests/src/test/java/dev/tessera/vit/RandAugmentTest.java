package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.data.RandAugment;
import dev.tessera.vit.data.RandAugment.Op;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class RandAugmentTest {
    private static float[] ramp(int c, int h, int w) {
        float[] img = new float[c * h * w];
        for (int i = 0; i < img.length; i++) img[i] = (i % 256) / 255f;
        return img;
    }

    @Test
    void translateMovesContentByTheMagnitudesShareOfTheWidth() {
        int h = 4, w = 331;
        float[] img = new float[h * w];
        img[2 * w + 10] = 1f;
        // Level 1: 150/331 of the width, i.e. 150 pixels; sign +1 moves content right.
        RandAugment.apply(Op.TRANSLATE_X, 1f, 1f, img, 1, h, w, new float[h * w]);
        assertEquals(1f, img[2 * w + 160]);
        assertEquals(0f, img[2 * w + 10]);
    }

    @Test
    void solarizeInvertsAboveTheThresholdOnly() {
        float[] img = {0.1f, 0.5f, 0.9f};
        RandAugment.apply(Op.SOLARIZE, 0.5f, 1f, img, 1, 1, 3, new float[3]); // threshold 1 - 0.5
        assertArrayEquals(new float[] {0.1f, 0.5f, 0.1f}, img, 1e-6f);
    }

    @Test
    void posterizeAtFullMagnitudeKeepsFourBits() {
        float[] img = {0x7F / 255f, 0xFF / 255f};
        RandAugment.apply(Op.POSTERIZE, 1f, 1f, img, 1, 1, 2, new float[2]);
        assertArrayEquals(new float[] {0x70 / 255f, 0xF0 / 255f}, img, 1e-6f);
    }

    @Test
    void autoContrastStretchesToTheFullRange() {
        float[] img = {0.25f, 0.5f, 0.75f};
        RandAugment.apply(Op.AUTO_CONTRAST, 0f, 1f, img, 1, 1, 3, new float[3]);
        assertArrayEquals(new float[] {0f, 0.5f, 1f}, img, 1e-6f);
    }

    @Test
    void equalizeFlattensTheHistogramLikePil() {
        // Two levels, half the pixels each.
        int n = 510;
        float[] img = new float[n];
        for (int i = 0; i < n; i++) img[i] = i < n / 2 ? 10 / 255f : 20 / 255f;
        RandAugment.apply(Op.EQUALIZE, 0f, 1f, img, 1, 1, n, new float[n]);
        // step = (510 - 255) / 255 = 1; lut[v] = (step/2 + count below v) / step: level 10 -> 0, level 20 -> 255.
        assertEquals(0f, img[0], 1e-6f);
        assertEquals(1f, img[n - 1], 1e-6f);
    }

    @Test
    void rotateByZeroAndZeroMagnitudeColourOpsAreIdentities() {
        float[] img = ramp(1, 7, 9), before = img.clone(), s = new float[img.length];
        for (Op op : new Op[] {Op.IDENTITY, Op.ROTATE, Op.SHEAR_X, Op.SHEAR_Y, Op.TRANSLATE_X, Op.TRANSLATE_Y, Op.BRIGHTNESS,
                Op.COLOR, Op.CONTRAST, Op.SHARPNESS, Op.POSTERIZE}) {
            RandAugment.apply(op, 0f, 1f, img, 1, 7, 9, s);
            assertArrayEquals(before, img, 1e-6f, op.name());
        }
    }

    @Test
    void rotationTurnsAboutTheCentre() {
        int n = 5;
        float[] img = new float[n * n], s = new float[n * n];
        img[2 * n + 2] = 1f;
        img[2 * n + 4] = 0.5f; // right of centre
        RandAugment.apply(Op.ROTATE, 1f, 1f, img, 1, n, n, s); // 30 degrees
        assertEquals(1f, img[2 * n + 2], "the centre stays");
        int moved = 0;
        for (int i = 0; i < n * n; i++) if (img[i] == 0.5f) moved = i;
        assertNotEquals(2 * n + 4, moved, "the off-centre pixel moved");
        int y = moved / n, x = moved % n;
        assertEquals(4.0, (y - 2) * (y - 2) + (x - 2) * (x - 2), 1.01, "at about the same distance from the centre");
    }

    @Property(tries = 40)
    void seededAndBoundedAndNormalisedBack(@ForAll @IntRange(min = 0, max = 4) int ops, @ForAll @IntRange(min = 0, max = 30) int m,
                                           @ForAll @IntRange(min = 1, max = 3) int c, @ForAll @IntRange(min = 1, max = 17) int h,
                                           @ForAll @IntRange(min = 1, max = 17) int w, @ForAll long seed) {
        float mean = 0.286f, std = 0.353f;
        float[] raw = ramp(c, h, w), a = new float[raw.length];
        for (int i = 0; i < raw.length; i++) a[i] = (raw[i] - mean) / std;
        float[] b = a.clone();
        RandAugment ra = new RandAugment(new RandAugment.Policy(ops, m), mean, std);
        ra.apply(a, c, h, w, new float[a.length], new SplittableRandom(seed));
        ra.apply(b, c, h, w, new float[b.length], new SplittableRandom(seed));
        assertArrayEquals(a, b, "same seed, same image");
        for (float v : a) {
            float px = v * std + mean;
            assertTrue(px >= -1e-5f && px <= 1 + 1e-5f, "pixel " + px + " left [0, 1]");
        }
    }

    @Test
    void badPoliciesAreRejectedWithTheirValue() {
        var e = assertThrows(IllegalArgumentException.class, () -> new RandAugment.Policy(2, 31));
        assertTrue(e.getMessage().contains("31"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new RandAugment.Policy(-1, 9));
    }
}
