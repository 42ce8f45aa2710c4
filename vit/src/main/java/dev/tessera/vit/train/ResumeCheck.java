package dev.tessera.vit.train;

import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.ViTConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What a resumed run must share with the run it resumes, for training and pre-training alike: the model, the recipe
 * (the learning-rate schedule spans all of its epochs) and the number of training images. Anything else would quietly
 * train a third thing that neither run describes. Checkpoints written before the recipe was stored whole have only their
 * model checked.
 */
final class ResumeCheck {
    private ResumeCheck() {}

    /** Each difference as "name before -> now"; a changed thread count is not one, only noted on the log. */
    static List<String> differences(Path ckpt, Map<String, Object> state, ViTConfig model, TrainConfig recipe, int trainImages, PrintStream log)
            throws IOException {
        List<String> diff = new ArrayList<>();
        ViTConfig saved = Checkpoint.readConfig(ckpt);
        if (!saved.equals(model)) diff.add("model " + saved + " -> " + model);
        if (state.get("recipe") instanceof Map<?, ?> stored) {
            TrainConfig was;
            try {
                was = TrainConfig.fromMap(stored);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(ckpt.resolve("state.json") + ": " + e.getMessage(), e);
            }
            diff.addAll(was.trainingDifferences(recipe));
            if (was.threads() != recipe.threads()) {
                log.printf("note    the run had %d threads, this one %d: sums run in another order, so results differ in the last digits%n", was.threads(), recipe.threads());
            }
        }
        if (state.get("train_images") instanceof Number n && n.intValue() != trainImages) diff.add("training images " + n.intValue() + " -> " + trainImages);
        return diff;
    }

    static void refuseIfAny(Path ckpt, List<String> diff) {
        if (!diff.isEmpty()) {
            throw new IllegalArgumentException("cannot resume " + ckpt + " with another recipe (" + String.join(", ", diff)
                    + "): a resumed run continues the run as it was started; start a new run in another directory instead");
        }
    }
}
