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
        new Trainer(model(), recipe(1), halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(false);
        byte[] good = Files.readAllBytes(dir.resolve("checkpoint/model.safetensors"));
        TrainConfig wild = recipe(3).withLr(1e30f).withWarmup(0f);
        TrainingDiverged e = assertThrows(TrainingDiverged.class,
                () -> new Trainer(model(), wild, halves(64, 1), halves(32, 2), dir, QUIET, 0.4f, 0.3f).run(true));
        assertTrue(e.getMessage().contains("checkpoint"), e.getMessage());
        assertArrayEquals(good, Files.readAllBytes(dir.resolve("checkpoint/model.safetensors")));
        assertFalse(Files.exists(dir.resolve("checkpoint.tmp")));
    }

    @Test
    void mismatchedDataIsRefusedUpFront() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(ViTConfig.of(28, 28, 1, 4, 16, 1, 2, 32, 2), recipe(1), halves(32, 1), halves(32, 2), dir, QUIET, 0f, 1f));
        assertTrue(e.getMessage().contains("1x8x8") && e.getMessage().contains("1x28x28"), e.getMessage());
    }
}
