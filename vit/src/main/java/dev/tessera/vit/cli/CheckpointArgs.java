package dev.tessera.vit.cli;

import dev.tessera.vit.io.Checkpoint;
import java.io.IOException;
import java.nio.file.Path;

/** What eval, predict and analyze take from --checkpoint: the directory, and the normalisation training used. */
final class CheckpointArgs {
    private CheckpointArgs() {}

    /** A run's OUT directory or its OUT/checkpoint: either is accepted. */
    static Path directory(String arg) {
        return Checkpoint.directory(Path.of(arg));
    }

    /** {mean, std} stored by the trainer, or the Fashion-MNIST statistics for older checkpoints without them. */
    static float[] normalisation(Path dir) throws IOException {
        return Checkpoint.normalisation(dir);
    }
}
