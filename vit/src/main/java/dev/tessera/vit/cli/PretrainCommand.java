package dev.tessera.vit.cli;

import dev.tessera.vit.data.DataSources;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.train.Pretrainer;
import dev.tessera.vit.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;

/**
 * {@code tessera pretrain --objective mpp [--epochs N] [--out DIR] [model flags]}: masked patch prediction on the
 * training images (labels unused); then {@code tessera train --init DIR/checkpoint} fine-tunes from it.
 */
final class PretrainCommand {
    private PretrainCommand() {}

    static int run(String[] argv, PrintStream out) throws IOException, InterruptedException {
        Args a = new Args(argv, Set.of("quick", "spt", "lsa"), Set.of("objective", "data", "epochs", "batch-size", "lr", "seed", "threads", "out",
                "dim", "depth", "heads", "mlp-dim", "patch", "train-limit", "warmup", "weight-decay"));
        String objective = a.str("objective", "mpp");
        if (!objective.equals("mpp")) throw new UsageException("unknown --objective '" + objective + "': the one implemented is mpp (masked patch prediction)");
        ViTConfig base = TrainCommand.defaultModel();
        ViTConfig mc = ViTConfig.of(28, 28, 1, a.integer("patch", base.patch()), a.integer("dim", base.dim()), a.integer("depth", base.depth()),
                a.integer("heads", base.heads()), a.integer("mlp-dim", base.mlpDim()), 10).withSmallDataMethods(a.flag("spt"), a.flag("lsa"));
        TrainConfig tc = TrainConfig.fashionMnist().withAugment(0, true);
        if (a.flag("quick")) tc = tc.withEpochs(1).withWarmup(0.2f);
        tc = tc.withEpochs(a.integer("epochs", a.flag("quick") ? 1 : 8)).withBatchSize(a.integer("batch-size", tc.batchSize()))
                .withLr(a.flt("lr", tc.lr())).withSeed(a.lng("seed", tc.seed())).withThreads(a.integer("threads", tc.threads()))
                .withWarmup(a.flt("warmup", tc.warmupEpochs())).withWeightDecay(a.flt("weight-decay", tc.weightDecay()));
        String data = a.str("data", null);
        FashionMnist.Splits splits = DataSources.load("fashion-mnist", data == null ? null : Path.of(data), 1, 28);
        Dataset train = splits.train();
        int limit = a.integer("train-limit", a.flag("quick") ? 10_000 : 0);
        if (limit > 0) train = train.head(limit);
        Path outDir = Path.of(a.str("out", "runs/mpp"));
        out.printf("data    %s (%d images, labels unused)%n", splits.dir(), train.count());
        out.printf("model   ViT patch %d, dim %d, depth %d, heads %d, mlp %d; masked patch prediction, %d colour classes%n", mc.patch(), mc.dim(),
                mc.depth(), mc.heads(), mc.mlpDim(), 1 << (3 * mc.channels()));
        Pretrainer.Result r = new Pretrainer(mc, tc, train, outDir, out, TrainCommand.MEAN, TrainCommand.STD).run();
        out.printf("done: MPP loss %.4f, colour accuracy %.4f after %d epochs; fine-tune with: tessera train --init %s%n", r.loss(), r.accuracy(),
                r.epochs(), outDir.resolve("checkpoint"));
        return 0;
    }
}
