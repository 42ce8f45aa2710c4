package dev.tessera.vit.cli;

import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.train.Pretrainer;
import dev.tessera.vit.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
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
        // Eight epochs unless told otherwise, also for runs from before the recipe was stored.
        TrainConfig defaults = TrainConfig.fashionMnist().withAugment(0, true).withEpochs(8);
        RunStart.Resumed resumed = resume ? RunStart.resume(a, outDir, RUN_FIXED, "pre-training", defaults) : null;
        TrainConfig tc = resumed != null ? resumed.recipe() : defaults;
        if (a.flag("quick")) tc = tc.withEpochs(1).withWarmup(0.2f);
        tc = tc.withEpochs(a.integer("epochs", tc.epochs())).withBatchSize(a.integer("batch-size", tc.batchSize()))
                .withLr(a.flt("lr", tc.lr())).withSeed(a.lng("seed", tc.seed())).withThreads(a.integer("threads", tc.threads()))
                .withWarmup(a.flt("warmup", tc.warmupEpochs())).withWeightDecay(a.flt("weight-decay", tc.weightDecay()));
        RunStart.Data source = RunStart.load(a, resumed, outDir, false);
        Dataset train = source.train();
        ViTConfig mc = resumed != null ? resumed.model() : null;
        if (mc == null) {
            // The data's geometry (one's own images too: labels are not used, one class folder will do).
            mc = TrainCommand.sizedForData(a, train).withSmallDataMethods(a.flag("spt"), a.flag("lsa"));
        }
        float[] stats = source.normalisation();
        out.printf("data    %s (%d images, labels unused)%n", source.splits().dir(), train.count());
        out.printf("model   ViT patch %d, dim %d, depth %d, heads %d, mlp %d; masked patch prediction, %d colour classes%n", mc.patch(), mc.dim(),
                mc.depth(), mc.heads(), mc.mlpDim(), 1 << (3 * mc.channels()));
        out.printf("recipe  %d epochs, batch %d, lr %.2g, wd %.2g, seed %d, %d threads -> %s%n", tc.epochs(), tc.batchSize(), tc.lr(),
                tc.weightDecay(), tc.seed(), tc.threads(), outDir);
        Pretrainer.Result r;
        try (InterruptNotice notice = new InterruptNotice("pretrain", outDir)) {
            r = new Pretrainer(mc, tc, train, outDir, out, stats[0], stats[1])
                    .withDataSource(source.dataset(), source.recordedDir()).run(resume, Integer.MAX_VALUE);
        }
        out.printf("done: MPP loss %.4f, colour accuracy %.4f after %d epochs; fine-tune with: tessera train --init %s%n", r.loss(), r.accuracy(),
                r.epochs(), outDir.resolve("checkpoint"));
        return 0;
    }
}
