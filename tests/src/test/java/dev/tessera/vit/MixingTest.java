package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.data.Mixing;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class MixingTest {
    @Test
    void mixupBlendsImagesAndTargetsWithOneLambda() {
        int b = 4, px = 6, classes = 3;
        float[] img = new float[b * px];
        for (int i = 0; i < b; i++) for (int k = 0; k < px; k++) img[i * px + k] = i;
        int[] y = {0, 1, 2, 1};
        float[] soft = new Mixing(0.4f, 0f, 1f, 0f).apply(img, y, b, 1, 2, 3, classes, new SplittableRandom(3));
        // image 0 = lam * 0 + (1 - lam) * 3, so lam = 1 - img/3; the target gives the same lambda
        double lam = 1 - img[0] / 3.0;
        assertEquals(lam, soft[0], 1e-5);          // class of image 0
        assertEquals(1 - lam, soft[1], 1e-5);      // class of image 3 (mirror)
        for (int i = 0; i < b; i++) {
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += soft[i * classes + c];
            assertEquals(1.0, sum, 1e-6);
        }
    }

    @Test
    void cutmixPastesABoxAndCorrectsLambdaToItsArea() {
        int b = 2, h = 8, w = 8, classes = 2;
        float[] img = new float[b * h * w];
        java.util.Arrays.fill(img, h * w, 2 * h * w, 1f);
        int[] y = {0, 1};
        for (long seed = 0; seed < 20; seed++) {
            float[] x = img.clone();
            float[] soft = new Mixing(0f, 1f, 1f, 1f).apply(x, y, b, 1, h, w, classes, new SplittableRandom(seed));
            int pasted = 0;
            for (int k = 0; k < h * w; k++) if (x[k] == 1f) pasted++;
            assertEquals(1 - (double) pasted / (h * w), soft[0], 1e-6, "seed " + seed);
        }
    }

    @Test
    void betaSamplesHaveTheRightMean() {
        SplittableRandom r = new SplittableRandom(1);
        double sum = 0;
        int n = 20000;
        Mixing m = new Mixing(0.2f, 0f, 1f, 0f);
        for (int i = 0; i < n; i++) {
            float[] img = {0f, 1f};
            float[] soft = m.apply(img, new int[] {0, 1}, 2, 1, 1, 1, 2, r);
            sum += soft[0];
        }
        assertEquals(0.5, sum / n, 0.02);
    }
}
