package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.io.SafeTensors;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.FineTune;
import dev.tessera.vit.train.TrainConfig;
import dev.tessera.vit.train.Trainer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fine-tuning from the torchvision-made fixture (image 30, patch 6, dim 36, 3 heads, 7 classes). */
class FineTuneTest {
    @TempDir Path dir;

    static VisionTransformer source() throws Exception {
        return VisionTransformer.load(PretrainedImportTest.fixture("tiny_timm.safetensors"), PretrainedImportTest.HEADS3.withPrepack(false));
    }

    @Test
    void sameGeometryAndTheSourceHeadGiveTheSourceLogits() throws Exception {
        try (VisionTransformer src = source()) {
            ViTConfig c = FineTune.configFor(src.config(), 3, 30, 30, 7);
            try (VisionTransformer t = new VisionTransformer(c, 1)) {
                FineTune.initFrom(src, t);
                for (float v : t.parameters().get("head.weight").value().toArray()) assertEquals(0f, v, "the new head starts at zero");
                // Put the source's head back (transposed): the whole network must then be the source's.
                float[] hw = src.parameters().get("head.weight").value().toArray();
                float[] tw = new float[hw.length];
                for (int o = 0; o < 7; o++) for (int i = 0; i < 36; i++) tw[i * 7 + o] = hw[o * 36 + i];
                t.parameters().get("head.weight").value().copyFrom(tw);
                t.parameters().get("head.bias").value().copyFrom(src.parameters().get("head.bias").value().toArray());
                float[] x = PretrainedImportTest.io("input");
                PretrainedImportTest.assertLogits("fine-tune init", src.logits(x, 2), t.logits(x, 2));
            }
        }
    }

    @Test
    void greyImagesAtAnotherSizeFoldChannelsAndResamplePositions() throws Exception {
        try (VisionTransformer src = source()) {
            ViTConfig c = FineTune.configFor(src.config(), 1, 36, 42, 4);
            assertEquals(6 * 7 + 1, c.tokens());
            try (VisionTransformer t = new VisionTransformer(c, 1)) {
                FineTune.initFrom(src, t);
                float[] sw = src.parameters().get("patch_embed.weight").value().toArray(); // (36, 3*36), out-in
                float[] tw = t.parameters().get("patch_embed.weight").value().toArray();   // (36, 36), in-out
                for (int k = 0; k < 36; k++) {
                    for (int d = 0; d < 36; d += 7) {
                        float sum = sw[d * 108 + k] + sw[d * 108 + 36 + k] + sw[d * 108 + 72 + k];
                        assertEquals(sum, tw[k * 36 + d], 1e-5f);
                    }
                }
                float[] sp = src.parameters().get("pos_embed").value().toArray(), tp = t.parameters().get("pos_embed").value().toArray();
                for (int d = 0; d < 36; d++) assertEquals(sp[d], tp[d], "the class token's position is kept as is");
                assertThrows(IllegalArgumentException.class, () -> FineTune.configFor(src.config(), 1, 28, 28, 4), "28 is not a multiple of patch 6");
            }
        }
    }

    /** Two classes of 30x30 RGB images: a bright top or a bright bottom half. */
    static Dataset halves(int n, long seed) {
        Random r = new Random(seed);
        int hw = 30 * 30;
        byte[] px = new byte[n * 3 * hw];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 2;
            for (int ch = 0; ch < 3; ch++) for (int row = 0; row < 30; row++) for (int col = 0; col < 30; col++) {
                boolean bright = (row < 15) == (y[i] == 0);
                px[(i * 3 + ch) * hw + row * 30 + col] = (byte) Math.min(255, (bright ? 170 : 50) + r.nextInt(60));
            }
        }
        return new Dataset("halves30", px, y, n, 3, 30, 30, 2, null);
    }

    @Test
    void sgdFineTuningLearnsAndCheckpointsItsMomentum() throws Exception {
        Path init = PretrainedImportTest.fixture("tiny_timm.safetensors");
        ViTConfig c;
        try (VisionTransformer src = source()) {
            c = FineTune.configFor(src.config(), 3, 30, 30, 2);
        }
        TrainConfig tc = TrainConfig.fashionMnist().withEpochs(3).withBatchSize(16).withLr(0.01f).withWeightDecay(0f).withWarmup(0.3f)
                .withAugment(0, false).withThreads(2).withSeed(3);
        Trainer.Result r = new Trainer(c, tc, halves(192, 1), halves(64, 2), dir, TrainerTest.QUIET, 0.5f, 0.25f)
                .initFrom(init, PretrainedImportTest.HEADS3).withSgd(0.9f).run(false);
        assertTrue(r.last().testAcc() > 0.9, "test accuracy " + r.last().testAcc());
        try (SafeTensors.File f = SafeTensors.open(dir.resolve("checkpoint/optimizer.safetensors"))) {
            assertEquals("Sgd", f.metadata().get("optimizer"));
            assertTrue(f.tensors().containsKey("blocks.0.mlp.fc1.weight.momentum"));
        }
    }
}
