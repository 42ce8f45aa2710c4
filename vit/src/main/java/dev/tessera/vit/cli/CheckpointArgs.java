package dev.tessera.vit.cli;

import dev.tessera.vit.data.DataSources;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.ViTConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

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

    /**
     * {dataset, data directory or null}: the flags where given, else what the run's state recorded (a directory only
     * for the same dataset), else Fashion-MNIST found as usual.
     */
    static String[] dataSource(Args a, Map<String, Object> state) {
        String stored = state.get("dataset") instanceof String s ? s : null;
        String dataset = a.str("dataset", stored != null ? stored : "fashion-mnist");
        String storedDir = dataset.equals(stored) && state.get("data") instanceof String d ? d : null;
        return new String[] {dataset, a.str("data", storedDir)};
    }

    /** The test split of the run's data (see {@link #dataSource}), at the model's size, refused unless it fits the model. */
    static Dataset testData(Args a, Path dir, ViTConfig c) throws IOException {
        String[] src = dataSource(a, Checkpoint.readState(dir));
        Dataset test = DataSources.load(src[0], src[1] == null ? null : Path.of(src[1]), c.channels(), c.imageHeight()).test();
        if (!fits(test, c, true)) {
            throw new UsageException(dir + " holds a " + c.imageHeight() + "x" + c.imageWidth() + "x" + c.channels() + " model of " + c.numClasses()
                    + " classes, but the test images of " + src[0] + (src[1] == null ? "" : " in " + src[1]) + " are " + test.height() + "x"
                    + test.width() + "x" + test.channels() + " in " + test.classes() + " classes: pass the run's --dataset and --data");
        }
        return test;
    }

    /** Whether images of d go into model c as they are: size and channels, and with {@code classes} the class count too. */
    static boolean fits(Dataset d, ViTConfig c, boolean classes) {
        return d.height() == c.imageHeight() && d.width() == c.imageWidth() && d.channels() == c.channels() && (!classes || d.classes() == c.numClasses());
    }

    /**
     * A classifier's checkpoint directory: a masked-patch-prediction pre-training run's head was never trained, so its
     * "classes" would be noise; it is refused with the way to make a classifier of it.
     */
    static Path classifier(String arg) throws IOException {
        Path dir = directory(arg);
        if (dev.tessera.vit.train.Pretrainer.isPretraining(Checkpoint.readState(dir))) {
            throw new UsageException(dir + " is a masked-patch-prediction pre-training run, whose classification head was never trained: "
                    + "fine-tune it first (./tessera train --init " + dir + ")");
        }
        return dir;
    }
}
