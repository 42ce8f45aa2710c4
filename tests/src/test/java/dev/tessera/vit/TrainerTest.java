package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.io.Json;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.EpochMetrics;
import dev.tessera.vit.train.TrainConfig;
import dev.tessera.vit.train.Trainer;
import dev.tessera.vit.train.TrainingDiverged;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    @TempDir Path dir;
    static final PrintStream QUIET = new PrintStream(java.io.OutputStream.nullOutputStream());

    /** Two classes of 8x8 images: a bright top half or a bright bottom half, with noise (a flip keeps the class). */
    static Dataset halves(int n, long seed) {
        Random r = new Random(seed);
        byte[] px = new byte[n * 64];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 2;
            for (int row = 0; row < 8; row++) for (int col = 0; col < 8; col++) {
                boolean bright = (row < 4) == (y[i] == 0);
                px[i * 64 + row * 8 + col] = (byte) Math.min(255, (bright ? 180 : 40) + r.nextInt(60));
            }
        }
        return new Dataset("halves", px, y, n, 1, 8, 8, 2, null);
    }

    static ViTConfig model() { return ViTConfig.of(8, 8, 1, 4, 16, 2, 2, 32, 2); }

    static TrainConfig recipe(int epochs) {
        return TrainConfig.fashionMnist().withEpochs(epochs).withBatchSize(16).withLr(3e-3f).withWarmup(0.5f).withThreads(2).withSeed(7);
    }

    @Test
    void learnsWritesMetricsCheckpointAndChart() throws Exception {
        Trainer.Result r = new Trainer(model(), recipe(8), halves(256, 1), halves(64, 2), dir, QUIET, 0.4f, 0.3f).run(false);
        assertTrue(r.last().testAcc() > 0.9, "test accuracy " + r.last().testAcc());
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(8, lines.size());
        Map<?, ?> m = (Map<?, ?>) Json.parse(lines.get(7));
        for (String k : new String[] {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "img_per_s", "seconds"}) assertTrue(m.containsKey(k), k);
        assertTrue(Files.size(dir.resolve("curves.png")) > 1000);
        try (VisionTransformer v = Checkpoint.loadModel(dir.resolve("checkpoint"))) {
            assertEquals(model(), v.config());
        }
        assertEquals(0, r.offHeapGrowthAfterFirstStep(), "steady-state steps allocated off-heap memory");
    }

    @Test
    void resumeGivesTheSameResultAsAnUninterruptedRun() throws Exception {
        Path a = dir.resolve("a"), b = dir.resolve("b");
        Trainer.Result full = new Trainer(model(), recipe(3), halves(96, 1), halves(32, 2), a, QUIET, 0.4f, 0.3f).run(false);
        new Trainer(model(), recipe(3), halves(96, 1), halves(32, 2), b, QUIET, 0.4f, 0.3f).run(false, 2);
        Trainer.Result resumed = new Trainer(model(), recipe(3), halves(96, 1), halves(32, 2), b, QUIET, 0.4f, 0.3f).run(true);
        EpochMetrics x = full.last(), y = resumed.last();
        assertEquals(3, y.epoch());
        assertEquals(x.trainLoss(), y.trainLoss(), 0.0);
        assertEquals(x.testLoss(), y.testLoss(), 0.0);
        assertArrayEquals(Files.readAllBytes(a.resolve("checkpoint/model.safetensors")), Files.readAllBytes(b.resolve("checkpoint/model.safetensors")));
        assertEquals(3, Files.readAllLines(b.resolve("metrics.jsonl")).size());
    }

    @Test
    void divergenceStopsAndKeepsTheLastGoodCheckpoint() throws Exception {
        new Trainer(model(), recipe(3), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(false, 1);
        byte[] good = Files.readAllBytes(dir.resolve("checkpoint/model.safetensors"));
        // The optimizer's state turned to NaN (a resume may not change the recipe, so no wild learning rate): the
        // first update of epoch 2 makes the weights NaN, and the next loss stops the run.
        Path opt = dir.resolve("checkpoint/optimizer.safetensors");
        byte[] state = Files.readAllBytes(opt);
        long header = java.nio.ByteBuffer.wrap(state, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        java.nio.ByteBuffer data = java.nio.ByteBuffer.wrap(state).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int at = 8 + (int) header; at + 4 <= state.length; at += 4) data.putFloat(at, Float.NaN);
        Files.write(opt, state);
        TrainingDiverged e = assertThrows(TrainingDiverged.class,
                () -> new Trainer(model(), recipe(3), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(true));
        assertTrue(e.getMessage().contains("checkpoint"), e.getMessage());
        assertArrayEquals(good, Files.readAllBytes(dir.resolve("checkpoint/model.safetensors")));
        assertFalse(Files.exists(dir.resolve("checkpoint.tmp")));
    }

    @Test
    void resumeRefusesAnotherRecipeOrTrainingSet() throws Exception {
        new Trainer(model(), recipe(3), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(false, 1);
        byte[] weights = Files.readAllBytes(dir.resolve("checkpoint/model.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(model(), recipe(4).withLr(1e-3f), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(true));
        assertTrue(e.getMessage().contains("epochs 3 -> 4") && e.getMessage().contains("lr 0.003 -> 0.001"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(model(), recipe(3), halves(48, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(true));
        assertTrue(e.getMessage().contains("training images 64 -> 48"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(model(), recipe(3), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).withSgd(0.9f).run(true));
        assertTrue(e.getMessage().contains("optimizer adamw -> sgd"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(ViTConfig.of(8, 8, 1, 4, 16, 3, 2, 32, 2), recipe(3), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(true));
        assertTrue(e.getMessage().contains("model "), e.getMessage());
        assertArrayEquals(weights, Files.readAllBytes(dir.resolve("checkpoint/model.safetensors")), "a refused resume leaves the checkpoint alone");
        assertEquals(1, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        // Another thread count is the same recipe: the run goes on.
        Trainer.Result r = new Trainer(model(), recipe(3).withThreads(1), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(true);
        assertEquals(3, r.last().epoch());
    }

    @Test
    void recipeRoundTripsThroughJson() {
        TrainConfig r = recipe(5).withWeightDecay(0.1f).withSmoothing(0.07f).withEma(0.999f).withAugment(3, false)
                .withMixing(new dev.tessera.vit.data.Mixing(0.8f, 1f, 0.5f, 0.3f)).withInceptionCrop(0.35f)
                .withRandAugment(new dev.tessera.vit.data.RandAugment.Policy(2, 9)).withSeed(1L << 40);
        Map<?, ?> m = (Map<?, ?>) Json.parse(Json.write(r.toMap()));
        assertEquals(r, TrainConfig.fromMap(m));
        assertTrue(r.trainingDifferences(TrainConfig.fromMap(m).withThreads(7)).isEmpty(), "threads change how fast, not what");
        java.util.Map<String, Object> broken = new java.util.LinkedHashMap<>(r.toMap());
        broken.remove("clip_norm");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.fromMap(broken));
        assertTrue(e.getMessage().contains("clip_norm"), e.getMessage());
    }

    @Test
    void mismatchedDataIsRefusedUpFront() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(ViTConfig.of(28, 28, 1, 4, 16, 1, 2, 32, 2), recipe(1), halves(32, 1), halves(32, 2), dir, QUIET, 0f, 1f));
        assertTrue(e.getMessage().contains("1x8x8") && e.getMessage().contains("1x28x28"), e.getMessage());
    }
}
