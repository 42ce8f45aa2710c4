package dev.tessera.vit.cli;

import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;

/** {@code tessera eval --checkpoint DIR}: test accuracy and the confusion matrix. */
final class EvalCommand {
    private EvalCommand() {}

    static int run(String[] argv, PrintStream out) throws IOException, InterruptedException {
        Args a = new Args(argv, Set.of(), Set.of("checkpoint", "data", "batch-size", "threads", "dataset"));
        String ck = a.str("checkpoint", null);
        if (ck == null) throw new UsageException("eval needs --checkpoint DIR (a training run's OUT/checkpoint or OUT)");
        Path dir = Path.of(ck);
        if (!java.nio.file.Files.isRegularFile(dir.resolve("config.json")) && java.nio.file.Files.isDirectory(dir.resolve("checkpoint"))) {
            dir = dir.resolve("checkpoint");
        }
        dev.tessera.engine.kernels.Parallel.setThreads(a.integer("threads", Runtime.getRuntime().availableProcessors()));
        String data = a.str("data", null);
        try (VisionTransformer vit = Checkpoint.loadModel(dir); Workspace ws = new Workspace()) {
            FashionMnist.Splits splits = dev.tessera.vit.data.DataSources.load(a.str("dataset", "fashion-mnist"), data == null ? null : Path.of(data),
                    vit.config().channels(), vit.config().imageHeight());
            java.util.Map<String, Object> state = Checkpoint.readState(dir);
            float mean = state.get("normalize_mean") instanceof Number n ? n.floatValue() : TrainCommand.MEAN;
            float std = state.get("normalize_std") instanceof Number n ? n.floatValue() : TrainCommand.STD;
            int classes = vit.config().numClasses();
            long[][] confusion = new long[classes][classes];
            double[] r = Trainer.evaluate(vit, splits.test(), ws, a.integer("batch-size", 500), mean, std, confusion);
            out.printf("test accuracy %.4f, loss %.4f on %d images%n", r[1], r[0], splits.test().count());
            out.println("confusion matrix (rows: true class, columns: predicted)");
            out.printf("%14s", "");
            for (int c = 0; c < classes; c++) out.printf("%6d", c);
            out.println();
            for (int t = 0; t < classes; t++) {
                String[] names = splits.test().classNames();
                String name = names != null && t < names.length ? names[t] : Integer.toString(t);
                out.printf("%2d %-11s", t, name.length() > 11 ? name.substring(0, 11) : name);
                for (int p = 0; p < classes; p++) out.printf("%6d", confusion[t][p]);
                out.println();
            }
        }
        return 0;
    }
}
