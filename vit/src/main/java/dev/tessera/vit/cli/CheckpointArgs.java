package dev.tessera.vit.cli;

import dev.tessera.vit.io.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** What eval and predict both take from --checkpoint: the directory, and the normalisation training used. */
final class CheckpointArgs {
    private CheckpointArgs() {}

    /** A run's OUT directory or its OUT/checkpoint: either is accepted. */
    static Path directory(String arg) {
        Path dir = Path.of(arg);
        if (!Files.isRegularFile(dir.resolve("config.json")) && Files.isDirectory(dir.resolve("checkpoint"))) dir = dir.resolve("checkpoint");
        return dir;
    }

    /** {mean, std} stored by the trainer, or the Fashion-MNIST statistics for older checkpoints without them. */
    static float[] normalisation(Path dir) throws IOException {
        Map<String, Object> state = Checkpoint.readState(dir);
        float mean = state.get("normalize_mean") instanceof Number n ? n.floatValue() : TrainCommand.MEAN;
        float std = state.get("normalize_std") instanceof Number n ? n.floatValue() : TrainCommand.STD;
        return new float[] {mean, std};
    }
}
