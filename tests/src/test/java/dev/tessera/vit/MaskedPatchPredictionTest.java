package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.MaskedPatchPrediction;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.Pretrainer;
import dev.tessera.vit.train.Trainer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MaskedPatchPredictionTest {
    @TempDir Path dir;

    @Test
    void gradientsReachTheMaskEmbeddingAndThePatchProjection() {
        ViTConfig c = ViTConfig.of(8, 8, 1, 2, 16, 1, 2, 32, 3);
        try (VisionTransformer vit = new VisionTransformer(c, 1); Workspace ws = new Workspace()) {
            MaskedPatchPrediction mpp = new MaskedPatchPrediction(vit);
            assertEquals(8, mpp.classes(), "grey: 3 bits of mean colour");
            float[] px = new float[2 * 64];
            Random r = new Random(2);
            for (int i = 0; i < px.length; i++) px[i] = r.nextFloat();
            Tape tape = Tape.training(ws);
            vit.parameters().zeroGrad();
            Tensor x = ws.allocate(2, 1, 8, 8).copyFrom(px);
            MaskedPatchPrediction.Step s = mpp.loss(tape, x, px, 5);
            assertEquals(2 * 8, s.predicted(), "half of each image's 16 patches");
            tape.backward(s.loss());
            double mask = 0, proj = 0;
            for (float g : vit.parameters().get("mpp.mask_token").grad().toArray()) mask += Math.abs(g);
            for (float g : vit.parameters().get("patch_embed.weight").grad().toArray()) proj += Math.abs(g);
            assertTrue(mask > 0, "no gradient reached the [mask] embedding");
            assertTrue(proj > 0, "no gradient reached the patch projection");
            tape.reset();
        }
    }

    @Test
    void pretrainingLearnsColoursAndItsCheckpointFineTunes() throws Exception {
        ViTConfig c = TrainerTest.model();
        Path pre = dir.resolve("mpp");
        Pretrainer.Result r = new Pretrainer(c, TrainerTest.recipe(4), TrainerTest.halves(256, 1), pre, TrainerTest.QUIET, 0.4f, 0.3f).run();
        // Halves images have two levels: a constant guess gets about half the corrupted patches right; learning, more.
        assertTrue(r.accuracy() > 0.6, "MPP colour accuracy " + r.accuracy());
        Trainer.Result t = new Trainer(c, TrainerTest.recipe(2), TrainerTest.halves(256, 3), TrainerTest.halves(64, 4), dir.resolve("ft"), TrainerTest.QUIET, 0.4f, 0.3f)
                .initFrom(pre.resolve("checkpoint"), dev.tessera.vit.io.PretrainedWeights.Options.AUTO).run(false);
        assertTrue(Double.isFinite(t.last().testLoss()));
    }
}
