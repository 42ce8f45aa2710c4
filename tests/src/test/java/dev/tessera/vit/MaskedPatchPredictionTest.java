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
        assertTrue(java.nio.file.Files.size(pre.resolve("curves.png")) > 1000, "no MPP curve chart");
        Trainer.Result t = new Trainer(c, TrainerTest.recipe(2), TrainerTest.halves(256, 3), TrainerTest.halves(64, 4), dir.resolve("ft"), TrainerTest.QUIET, 0.4f, 0.3f)
                .initFrom(pre.resolve("checkpoint"), dev.tessera.vit.io.PretrainedWeights.Options.AUTO).run(false);
        assertTrue(Double.isFinite(t.last().testLoss()));
    }

    @Test
    void resumeGivesTheSameResultAsAnUninterruptedRun() throws Exception {
        Path a = dir.resolve("a"), b = dir.resolve("b");
        Pretrainer.Result full = new Pretrainer(TrainerTest.model(), TrainerTest.recipe(3), TrainerTest.halves(96, 1), a, TrainerTest.QUIET, 0.4f, 0.3f).run();
        new Pretrainer(TrainerTest.model(), TrainerTest.recipe(3), TrainerTest.halves(96, 1), b, TrainerTest.QUIET, 0.4f, 0.3f).run(false, 2);
        Pretrainer.Result resumed = new Pretrainer(TrainerTest.model(), TrainerTest.recipe(3), TrainerTest.halves(96, 1), b, TrainerTest.QUIET, 0.4f, 0.3f).run(true, Integer.MAX_VALUE);
        assertEquals(3, resumed.epochs());
        assertEquals(full.loss(), resumed.loss(), 0.0);
        assertEquals(full.accuracy(), resumed.accuracy(), 0.0);
        assertArrayEquals(java.nio.file.Files.readAllBytes(a.resolve("checkpoint/model.safetensors")), java.nio.file.Files.readAllBytes(b.resolve("checkpoint/model.safetensors")));
        assertEquals(3, java.nio.file.Files.readAllLines(b.resolve("metrics.jsonl")).size());
    }

    @Test
    void resumeRefusesAnotherRecipeOrTrainingSet() throws Exception {
        new Pretrainer(TrainerTest.model(), TrainerTest.recipe(3), TrainerTest.halves(64, 1), dir, TrainerTest.QUIET, 0.4f, 0.3f).run(false, 1);
        byte[] before = java.nio.file.Files.readAllBytes(dir.resolve("checkpoint/model.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Pretrainer(TrainerTest.model(), TrainerTest.recipe(4), TrainerTest.halves(64, 1), dir, TrainerTest.QUIET, 0.4f, 0.3f).run(true, Integer.MAX_VALUE));
        assertTrue(e.getMessage().contains("epochs 3 -> 4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Pretrainer(TrainerTest.model(), TrainerTest.recipe(3), TrainerTest.halves(48, 1), dir, TrainerTest.QUIET, 0.4f, 0.3f).run(true, Integer.MAX_VALUE));
        assertTrue(e.getMessage().contains("training images 64 -> 48"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(TrainerTest.model(), TrainerTest.recipe(3), TrainerTest.halves(64, 1), TrainerTest.halves(32, 2), dir, TrainerTest.QUIET, 0.4f, 0.3f).run(true));
        assertTrue(e.getMessage().contains("pretrain --resume"), e.getMessage());
        assertArrayEquals(before, java.nio.file.Files.readAllBytes(dir.resolve("checkpoint/model.safetensors")), "a refused resume leaves the checkpoint alone");
    }
}
