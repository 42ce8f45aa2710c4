package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.model.PatchCorruption;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PatchCorruptionTest {
    @Test
    void ratiosOverManyDrawsAreTheViTPapers() {
        int batch = 64, patches = 49;
        long corrupted = 0, masked = 0, replaced = 0, kept = 0, total = 0;
        SplittableRandom rng = new SplittableRandom(1);
        for (int d = 0; d < 100; d++) {
            PatchCorruption.Draw draw = PatchCorruption.draw(batch, patches, rng);
            for (int r = 0; r < batch * patches; r++, total++) {
                if (!draw.corrupted()[r]) {
                    assertEquals(r, draw.source()[r], "untouched patches keep their own embedding");
                    continue;
                }
                corrupted++;
                int s = draw.source()[r];
                if (s == PatchCorruption.MASK) masked++;
                else if (s == r) kept++;
                else {
                    replaced++;
                    assertEquals(r / patches, s / patches, "a replacement comes from the same image");
                }
            }
        }
        assertEquals(0.5 * 48 / 49, (double) corrupted / total, 0.02, "half of the patches (24 of 49) are corrupted");
        assertEquals(0.8, (double) masked / corrupted, 0.02);
        assertEquals(0.1, (double) replaced / corrupted, 0.02);
        assertEquals(0.1, (double) kept / corrupted, 0.02);
    }

    @Test
    void targetsAreThreeBitMeanColours() {
        // One 2x4 grey image, patch 2: left patch mean 0.5 -> class 4, right patch mean 1.0 -> class 7 (clamped).
        float[] grey = {0f, 1f, 1f, 1f,
                        0f, 1f, 1f, 1f};
        assertArrayEquals(new int[] {4, 7}, PatchCorruption.targets(grey, 1, 1, 2, 4, 2));
        // RGB 1x1 patch: (0.3, 0.6, 0.99) -> (2, 4, 7) -> 2*64 + 4*8 + 7.
        float[] rgb = {0.3f, 0.6f, 0.99f};
        assertArrayEquals(new int[] {2 * 64 + 4 * 8 + 7}, PatchCorruption.targets(rgb, 1, 3, 1, 1, 1));
    }
}
