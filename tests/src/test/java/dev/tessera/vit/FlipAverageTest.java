package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.Trainer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@code eval --flip-average}: the logits of an image and of its mirror image, averaged. */
class FlipAverageTest {
    private static final int N = 24, H = 8, W = 12;

    private static Dataset images(boolean mirrored, boolean symmetric) {
        Random r = new Random(5);
        byte[] px = new byte[N * H * W];
        int[] y = new int[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % 3;
            for (int row = 0; row < H; row++) for (int col = 0; col < W; col++) px[(i * H + row) * W + col] = (byte) r.nextInt(256);
            if (symmetric) {
                for (int row = 0; row < H; row++) for (int col = 0; col < W / 2; col++) px[(i * H + row) * W + W - 1 - col] = px[(i * H + row) * W + col];
            }
        }
        if (mirrored) {
            byte[] m = new byte[px.length];
            for (int rowStart = 0; rowStart < px.length; rowStart += W) for (int col = 0; col < W; col++) m[rowStart + col] = px[rowStart + W - 1 - col];
            px = m;
        }
        return new Dataset("random", px, y, N, 1, H, W, 3, null);
    }

    private static double[] eval(VisionTransformer vit, Dataset d, boolean flip) throws InterruptedException {
        try (Workspace ws = new Workspace()) {
            return Trainer.evaluate(vit, d, ws, 7, 0.3f, 0.25f, null, flip);
        }
    }

    @Test
    void mirroringTheDataChangesNothingAndSymmetricImagesGainNothing() throws InterruptedException {
        try (VisionTransformer vit = new VisionTransformer(ViTConfig.of(H, W, 1, 4, 16, 1, 2, 24, 3), 11)) {
            double[] plain = eval(vit, images(false, false), false), mirroredPlain = eval(vit, images(true, false), false);
            double[] avg = eval(vit, images(false, false), true), mirroredAvg = eval(vit, images(true, false), true);
            // A random model is not mirror-symmetric, so the plain loss moves with the mirror and the average does not.
            assertNotEquals(plain[0], mirroredPlain[0], 1e-4);
            assertEquals(avg[0], mirroredAvg[0], 1e-5);
            assertEquals(avg[1], mirroredAvg[1], 0);
            assertNotEquals(plain[0], avg[0], 1e-4);
            double[] sym = eval(vit, images(false, true), false), symAvg = eval(vit, images(false, true), true);
            assertEquals(sym[0], symAvg[0], 1e-5);
            assertEquals(sym[1], symAvg[1], 0);
        }
    }
}
