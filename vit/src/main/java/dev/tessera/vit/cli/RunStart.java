package dev.tessera.vit.cli;

import dev.tessera.vit.data.DataSources;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What train and pretrain settle before they run: the run a {@code --resume} continues, and the data, taken as that
 * run recorded it unless the flags say otherwise.
 */
final class RunStart {
    private RunStart() {}

    /** A resumed run's model and state, and the recipe it was started with. */
    record Resumed(ViTConfig model, Map<String, Object> state, TrainConfig recipe) {}

    /**
     * The run in OUT/checkpoint, refusing the flags in {@code fixed} (the run's own model is not to be changed);
     * checkpoints from before the recipe was stored take {@code fallback}.
     */
    static Resumed resume(Args a, Path outDir, List<String> fixed, String what, TrainConfig fallback) throws IOException {
        for (String f : fixed) {
            if (a.given(f)) throw new UsageException("--resume continues the " + what + " in " + outDir + " with its own model and weights; --" + f + " cannot change them (start a new run with another --out)");
        }
        Path ckpt = outDir.resolve("checkpoint");
        Map<String, Object> state = Checkpoint.readState(ckpt);
        TrainConfig recipe = fallback;
        if (state.get("recipe") instanceof Map<?, ?> stored) {
            try {
                recipe = TrainConfig.fromMap(stored);
            } catch (IllegalArgumentException e) {
                throw new IOException(ckpt.resolve("state.json") + ": " + e.getMessage(), e);
            }
        }
        return new Resumed(Checkpoint.readConfig(ckpt), state, recipe);
    }

    /** The data a run trains on: where it came from (dir as given, or null), its splits and the training images used. */
    record Data(String dataset, String dir, FashionMnist.Splits splits, Dataset train) {
        /** The directory as the run's state records it: absolute, so that later commands find it from anywhere. */
        String recordedDir() { return dir == null ? null : Path.of(dir).toAbsolutePath().toString(); }

        /** {mean, std}: Fashion-MNIST's own statistics, or those of the training pixels. */
        float[] normalisation() {
            return dataset.toLowerCase(Locale.ROOT).contains("mnist") ? new float[] {FashionMnist.MEAN, FashionMnist.STD} : DataSources.pixelStats(train);
        }
    }

    /**
     * The data the flags name, else the resumed run's ({@code r} may be null), at the resumed model's size (a new
     * run's folder images: --channels, default 3, --image-size, default 32); the first --train-limit images (10,000
     * with --quick), or as many as the resumed run used. A resumed run's model must fit the data, and with
     * {@code labelled} its class count too.
     */
    static Data load(Args a, Resumed r, Path outDir, boolean labelled) throws IOException {
        String[] source = CheckpointArgs.dataSource(a, r != null ? r.state() : Map.of());
        String dataset = source[0], dir = source[1];
        ViTConfig mc = r != null ? r.model() : null;
        FashionMnist.Splits splits = DataSources.load(dataset, dir == null ? null : Path.of(dir), a.integer("channels", mc != null ? mc.channels() : 3),
                a.integer("image-size", mc != null ? mc.imageHeight() : 32));
        Dataset train = splits.train();
        int limit = a.integer("train-limit", a.flag("quick") ? 10_000 : 0);
        if (r != null && !a.given("train-limit") && r.state().get("train_images") instanceof Number n && n.intValue() < train.count()) limit = n.intValue();
        if (limit > 0) train = train.head(limit);
        if (mc != null && !CheckpointArgs.fits(train, mc, labelled)) {
            throw new UsageException("the checkpoint in " + outDir + " is a " + mc.imageHeight() + "x" + mc.imageWidth() + "x" + mc.channels()
                    + " model" + (labelled ? " of " + mc.numClasses() + " classes" : "") + ", but the data (" + dataset + ") is " + train.height()
                    + "x" + train.width() + "x" + train.channels() + (labelled ? " with " + train.classes() + " classes" : "")
                    + ": resume with the run's --dataset and --data");
        }
        return new Data(dataset, dir, splits, train);
    }
}
