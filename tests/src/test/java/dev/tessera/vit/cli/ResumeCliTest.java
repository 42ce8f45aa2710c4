package dev.tessera.vit.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.io.Json;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tessera train --resume} through the CLI, on a tiny image folder: the resumed run takes the recipe, the
 * training-set size and the model from the checkpoint, and refuses to be told otherwise (before, it quietly took
 * the day's defaults: 28 epochs of all images at lr 2e-3 after a 6-epoch run on 30,000). {@code tessera pretrain
 * --resume} likewise, and neither command resumes the other's run.
 */
class ResumeCliTest {
    @TempDir Path dir;
    Path data;

    /** Two classes of 8x8 grey images, bright top or bright bottom: 20 per class to train on, 4 to test. */
    @BeforeEach
    void folder() throws Exception {
        data = halvesFolder(dir.resolve("data"));
    }

    static Path halvesFolder(Path data) throws java.io.IOException {
        Random r = new Random(3);
        for (String split : new String[] {"train", "test"}) {
            for (int c = 0; c < 2; c++) {
                Path d = Files.createDirectories(data.resolve(split).resolve(c == 0 ? "top" : "bottom"));
                for (int i = 0; i < (split.equals("train") ? 20 : 4); i++) {
                    BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
                    for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) {
                        int v = ((y < 4) == (c == 0) ? 180 : 40) + r.nextInt(60);
                        img.getRaster().setSample(x, y, 0, v);
                    }
                    ImageIO.write(img, "png", d.resolve(i + ".png").toFile());
                }
            }
        }
        return data;
    }

    String[] train(Path out, String... extra) {
        return command("train", out, extra);
    }

    String[] command(String name, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of(name, "--dataset", "folder", "--data", data.toString(), "--image-size", "8",
                "--channels", "1", "--threads", "1", "--out", out.toString()));
        a.addAll(List.of(extra));
        return PredictCliTest.run(a.toArray(String[]::new));
    }

    @Test
    void resumeKeepsTheRecipeAndRefusesAnother() throws Exception {
        Path out = dir.resolve("run");
        String[] first = train(out, "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--patch", "4",
                "--spt=false", "--lsa=false", "--batch-size", "8", "--epochs", "2", "--lr", "0.003", "--warmup", "0.5",
                "--seed", "5", "--train-limit", "32");
        assertEquals("0", first[0], first[1] + first[2]);
        Map<?, ?> state = (Map<?, ?>) Json.parse(Files.readString(out.resolve("checkpoint/state.json")));
        Map<?, ?> recipe = (Map<?, ?>) state.get("recipe");
        assertEquals(2, ((Number) recipe.get("epochs")).intValue());
        assertEquals(0.003, ((Number) recipe.get("lr")).doubleValue(), 0.0);
        assertEquals(32, ((Number) state.get("train_images")).intValue());

        // All of it from the checkpoint: two epochs were done, so nothing is left to train (not 26 more at lr 2e-3).
        String[] resumed = train(out, "--resume");
        assertEquals("0", resumed[0], resumed[1] + resumed[2]);
        assertTrue(resumed[1].contains("2 epochs, batch 8, lr 0.0030"), resumed[1]);
        assertTrue(resumed[1].contains("(32 train"), resumed[1]);
        assertTrue(resumed[1].contains("after 2 epochs"), resumed[1]);
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size());

        String[] otherLr = train(out, "--resume", "--lr", "0.01", "--epochs", "3");
        assertEquals("1", otherLr[0]);
        assertTrue(otherLr[2].contains("epochs 2 -> 3") && otherLr[2].contains("lr 0.003 -> 0.01"), otherLr[2]);

        String[] otherData = train(out, "--resume", "--train-limit", "24");
        assertEquals("1", otherData[0]);
        assertTrue(otherData[2].contains("training images 32 -> 24"), otherData[2]);

        String[] otherModel = train(out, "--resume", "--depth", "2");
        assertEquals("2", otherModel[0]);
        assertTrue(otherModel[2].contains("--depth cannot change"), otherModel[2]);
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "a refused resume leaves the run as it was");
    }

    @Test
    void pretrainResumesItsOwnRunAndTrainFineTunesFromIt() throws Exception {
        Path pre = dir.resolve("mpp");
        String[] first = command("pretrain", pre, "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--patch", "4",
                "--batch-size", "8", "--epochs", "2", "--lr", "0.003", "--warmup", "0.5", "--seed", "5", "--train-limit", "32");
        assertEquals("0", first[0], first[1] + first[2]);
        Map<?, ?> state = (Map<?, ?>) Json.parse(Files.readString(pre.resolve("checkpoint/state.json")));
        assertEquals("mpp", state.get("objective"));
        assertEquals(2, ((Number) ((Map<?, ?>) state.get("recipe")).get("epochs")).intValue());
        assertEquals(32, ((Number) state.get("train_images")).intValue());
        assertEquals(2, ((List<?>) state.get("metrics")).size());

        String[] resumed = command("pretrain", pre, "--resume");
        assertEquals("0", resumed[0], resumed[1] + resumed[2]);
        assertTrue(resumed[1].contains("2 epochs, batch 8, lr 0.0030"), resumed[1]);
        assertTrue(resumed[1].contains("(32 images"), resumed[1]);
        assertTrue(resumed[1].contains("after 2 epochs"), resumed[1]);
        assertEquals(2, Files.readAllLines(pre.resolve("metrics.jsonl")).size());

        String[] otherLr = command("pretrain", pre, "--resume", "--lr", "0.01");
        assertEquals("1", otherLr[0]);
        assertTrue(otherLr[2].contains("lr 0.003 -> 0.01"), otherLr[2]);
        String[] otherModel = command("pretrain", pre, "--resume", "--dim", "32");
        assertEquals("2", otherModel[0]);
        assertTrue(otherModel[2].contains("--dim cannot change"), otherModel[2]);
        String[] evalOfMpp = PredictCliTest.run("eval", "--checkpoint", pre.toString());
        assertEquals("2", evalOfMpp[0]);
        assertTrue(evalOfMpp[2].contains("head was never trained") && evalOfMpp[2].contains("train --init"), evalOfMpp[2]);
        String[] predictOfMpp = PredictCliTest.run("predict", "--checkpoint", pre.toString(), data.resolve("test/top/0.png").toString());
        assertEquals("2", predictOfMpp[0]);
        String[] asTraining = train(pre, "--resume");
        assertEquals("1", asTraining[0]);
        assertTrue(asTraining[2].contains("pretrain --resume"), asTraining[2]);

        Path ft = dir.resolve("ft");
        String[] fineTune = train(ft, "--init", pre.resolve("checkpoint").toString(), "--epochs", "1", "--batch-size", "8", "--train-limit", "32");
        assertEquals("0", fineTune[0], fineTune[1] + fineTune[2]);
        String[] supervisedAsMpp = command("pretrain", ft, "--resume");
        assertEquals("1", supervisedAsMpp[0]);
        assertTrue(supervisedAsMpp[2].contains("not a masked-patch-prediction"), supervisedAsMpp[2]);
    }

    /** A patch size that divides the data's images but not Fashion-MNIST's 28 (8 on 16x16): the model is the data's. */
    @Test
    void aNewRunsModelTakesTheDataGeometryFirst() throws Exception {
        for (String cmd : new String[] {"train", "pretrain"}) {
            String[] r = command(cmd, dir.resolve(cmd + "16"), "--image-size", "16", "--patch", "8", "--dim", "16", "--depth", "1", "--heads", "2",
                    "--mlp-dim", "32", "--batch-size", "8", "--epochs", "1", "--train-limit", "16");
            assertEquals("0", r[0], cmd + ": " + r[1] + r[2]);
            assertTrue(r[1].contains("patch 8"), r[1]);
        }
        String[] odd = command("train", dir.resolve("odd"), "--image-size", "12", "--patch", "8", "--epochs", "1");
        assertEquals("1", odd[0]);
        assertTrue(odd[2].contains("12x12 is not a multiple of patch 8"), odd[2]);
    }

    /** eval, analyze, predict and a resume take the run's dataset, directory, image size and class names from its state. */
    @Test
    void laterCommandsFindTheRunsDataUntold() throws Exception {
        Path out = dir.resolve("run");
        String[] first = train(out, "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--spt=false", "--lsa=false",
                "--batch-size", "8", "--epochs", "1", "--train-limit", "16");
        assertEquals("0", first[0], first[1] + first[2]);

        String[] eval = PredictCliTest.run("eval", "--checkpoint", out.toString());
        assertEquals("0", eval[0], eval[1] + eval[2]);
        assertTrue(eval[1].contains("on 8 images") && eval[1].contains("bottom") && eval[1].contains("top"), eval[1]);
        String[] predict = PredictCliTest.run("predict", "--checkpoint", out.toString(), "--top", "2", data.resolve("test/top/0.png").toString());
        assertEquals("0", predict[0], predict[1] + predict[2]);
        assertTrue(predict[1].contains("top") && predict[1].contains("bottom"), predict[1]);
        String[] analyze = PredictCliTest.run("analyze", "--checkpoint", out.toString(), "--images", "2", "--cka-images", "4", "--out", dir.resolve("an").toString());
        assertEquals("0", analyze[0], analyze[1] + analyze[2]);
        String[] resumed = PredictCliTest.run("train", "--resume", "--out", out.toString());
        assertEquals("0", resumed[0], resumed[1] + resumed[2]);
        assertTrue(resumed[1].contains("(16 train, 8 test)"), resumed[1]);

        // Other data, told: three classes against the model's two.
        Path other = dir.resolve("other");
        for (String c : new String[] {"a", "b", "c"}) {
            for (String split : new String[] {"train", "test"}) {
                Path d = Files.createDirectories(other.resolve(split).resolve(c));
                Files.copy(data.resolve("test/top/0.png"), d.resolve("0.png"));
            }
        }
        String[] mismatch = PredictCliTest.run("eval", "--checkpoint", out.toString(), "--data", other.toString());
        assertEquals("2", mismatch[0], mismatch[1] + mismatch[2]);
        assertTrue(mismatch[2].contains("model of 2 classes") && mismatch[2].contains("in 3 classes"), mismatch[2]);
    }
}
