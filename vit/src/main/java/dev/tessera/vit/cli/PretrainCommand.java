package dev.tessera.vit.cli;

import dev.tessera.vit.data.DataSources;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.train.Pretrainer;
import dev.tessera.vit.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code tessera pretrain --objective mpp [--epochs N] [--out DIR] [model flags] [--resume]}: masked patch prediction on
 * the training images (labels unused) of Fashion-MNIST or any dataset {@code train} reads; then {@code tessera train
 * --init DIR/checkpoint} fine-tunes from it.
 */
final class PretrainCommand {
    private PretrainCommand() {}

    /** What a resumed pre-training run takes from its checkpoint and may not be told otherwise: the model. */
    private static final List<String> RUN_FIXED = List.of("dim", "depth", "heads", "mlp-dim", "patch", "spt", "lsa");

    static int run(String[] argv, PrintStream out) throws IOException, InterruptedException {
        Args a = new Args(argv, Set.of("quick", "spt", "lsa", "resume"), Set.of("objective", "data", "dataset", "image-size", "channels", "epochs", "batch-size", "lr", "seed", "threads", "out",
                "dim", "depth", "heads", "mlp-dim", "patch", "train-limit", "warmup", "weight-decay"));
        String objective = a.str("objective", "mpp");
        if (!objective.equals("mpp")) throw new UsageException("unknown --objective '" + objective + "': the one implemented is mpp (masked patch prediction)");
        Path outDir = Path.of(a.str("out", "runs/mpp"));
        boolean resume = a.flag("resume");
        ViTConfig mc = null;   // a new run's model is built once the data's geometry is known
        Map<String, Object> resumed = null;
        // Eight epochs unless told otherwise, also for runs from before the recipe was stored.
        TrainConfig tc = TrainConfig.fashionMnist().withAugment(0, true).withEpochs(8);
        if (resume) {
            for (String f : RUN_FIXED) {
                if (a.given(f)) throw new UsageException("--resume continues the pre-training in " + outDir + " with its own model; --" + f + " cannot change it (start a new run with another --out)");
            }
            mc = Checkpoint.readConfig(outDir.resolve("checkpoint"));
            resumed = Checkpoint.readState(outDir.resolve("checkpoint"));
            if (resumed.get("recipe") instanceof Map<?, ?> stored) {
                try {
                    tc = TrainConfig.fromMap(stored);
                } catch (IllegalArgumentException e) {
                    throw new IOException(outDir.resolve("checkpoint/state.json") + ": " + e.getMessage(), e);
                }
            }
        }
        if (a.flag("quick")) tc = tc.withEpochs(1).withWarmup(0.2f);
        tc = tc.withEpochs(a.integer("epochs", tc.epochs())).withBatchSize(a.integer("batch-size", tc.batchSize()))
                .withLr(a.flt("lr", tc.lr())).withSeed(a.lng("seed", tc.seed())).withThreads(a.integer("threads", tc.threads()))
                .withWarmup(a.flt("warmup", tc.warmupEpochs())).withWeightDecay(a.flt("weight-decay", tc.weightDecay()));
        String[] source = CheckpointArgs.dataSource(a, resumed != null ? resumed : Map.of());
        String dataset = source[0], data = source[1];
        FashionMnist.Splits splits = DataSources.load(dataset, data == null ? null : Path.of(data), a.integer("channels", mc != null ? mc.channels() : 3),
                a.integer("image-size", mc != null ? mc.imageHeight() : 32));
        Dataset train = splits.train();
        int limit = a.integer("train-limit", a.flag("quick") ? 10_000 : 0);
        if (resumed != null && !a.given("train-limit") && resumed.get("train_images") instanceof Number n && n.intValue() < train.count()) limit = n.intValue();
        if (limit > 0) train = train.head(limit);
        if (resume) {
            if (train.height() != mc.imageHeight() || train.width() != mc.imageWidth() || train.channels() != mc.channels()) {
                throw new UsageException("the checkpoint in " + outDir + " is a " + mc.imageHeight() + "x" + mc.imageWidth() + "x" + mc.channels()
                        + " model, but the data (" + dataset + ") is " + train.height() + "x" + train.width() + "x" + train.channels()
                        + ": resume with the run's --dataset and --data");
            }
        } else {
            // The data's geometry (one's own images too: labels are not used, one class folder will do).
            ViTConfig base = TrainCommand.defaultModel();
            mc = ViTConfig.of(train.height(), train.width(), train.channels(), a.integer("patch", base.patch()), a.integer("dim", base.dim()),
                    a.integer("depth", base.depth()), a.integer("heads", base.heads()), a.integer("mlp-dim", base.mlpDim()), train.classes())
                    .withSmallDataMethods(a.flag("spt"), a.flag("lsa"));
        }
        boolean fmnist = dataset.toLowerCase(java.util.Locale.ROOT).contains("mnist");
        float[] stats = fmnist ? new float[] {TrainCommand.MEAN, TrainCommand.STD} : DataSources.pixelStats(train);
        out.printf("data    %s (%d images, labels unused)%n", splits.dir(), train.count());
        out.printf("model   ViT patch %d, dim %d, depth %d, heads %d, mlp %d; masked patch prediction, %d colour classes%n", mc.patch(), mc.dim(),
                mc.depth(), mc.heads(), mc.mlpDim(), 1 << (3 * mc.channels()));
        out.printf("recipe  %d epochs, batch %d, lr %.2g, wd %.2g, seed %d, %d threads -> %s%n", tc.epochs(), tc.batchSize(), tc.lr(),
                tc.weightDecay(), tc.seed(), tc.threads(), outDir);
        Pretrainer.Result r;
        try (InterruptNotice notice = new InterruptNotice("pretrain", outDir)) {
            r = new Pretrainer(mc, tc, train, outDir, out, stats[0], stats[1])
                    .withDataSource(dataset, data == null ? null : Path.of(data).toAbsolutePath().toString()).run(resume, Integer.MAX_VALUE);
        }
        out.printf("done: MPP loss %.4f, colour accuracy %.4f after %d epochs; fine-tune with: tessera train --init %s%n", r.loss(), r.accuracy(),
                r.epochs(), outDir.resolve("checkpoint"));
        return 0;
    }
}
