package dev.tessera.vit.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A training run stopped by a signal (here SIGTERM; Ctrl-C is SIGINT) tells where its last epoch is and how to go on. */
class InterruptNoticeTest {
    @TempDir Path dir;

    @Test
    void aRunCutShortSaysHowToContinue() throws Exception {
        Path data = ResumeCliTest.halvesFolder(dir.resolve("data")), out = dir.resolve("run");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                "dev.tessera.vit.cli.Main", "train", "--dataset", "folder", "--data", data.toString(), "--image-size", "8", "--channels", "1",
                "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--patch", "4", "--batch-size", "8", "--epochs", "10000",
                "--threads", "1", "--out", out.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(dir.resolve("err.txt").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.isRegularFile(out.resolve("checkpoint/model.safetensors")) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(100);
            assertTrue(p.isAlive(), "the run ended by itself: " + Files.readString(dir.resolve("err.txt")));
            assertTrue(Files.isRegularFile(out.resolve("checkpoint/model.safetensors")), "no epoch finished in 120 s");
        } finally {
            p.destroy();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the run did not stop on SIGTERM");
        }
        List<String> err = Files.readAllLines(dir.resolve("err.txt"), StandardCharsets.UTF_8);
        assertTrue(err.stream().anyMatch(l -> l.contains("stopped; the last finished epoch is in") && l.contains("--resume --out " + out)), String.join("\n", err));
    }
}
