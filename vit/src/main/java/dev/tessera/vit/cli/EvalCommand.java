package dev.tessera.vit.cli;

import dev.tessera.engine.tensor.Workspace;
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
        Args a = new Args(argv, Set.of("flip-average"), Set.of("checkpoint", "data", "batch-size", "threads", "dataset"));
        String ck = a.str("checkpoint", null);
        if (ck == null) throw new UsageException("eval needs --checkpoint DIR (a training run's OUT/checkpoint or OUT)");
        Path dir = CheckpointArgs.classifier(ck);
        dev.tessera.engine.kernels.Parallel.setThreads(a.integer("threads", Runtime.getRuntime().availableProcessors()));
        try (VisionTransformer vit = Checkpoint.loadModel(dir); Workspace ws = new Workspace()) {
            dev.tessera.vit.data.Dataset test = CheckpointArgs.testData(a, dir, vit.config());
            float[] norm = CheckpointArgs.normalisation(dir);
            int classes = vit.config().numClasses();
            long[][] confusion = new long[classes][classes];
            double[] r = Trainer.evaluate(vit, test, ws, a.integer("batch-size", 500), norm[0], norm[1], confusion, a.flag("flip-average"));
            out.printf("test accuracy %.4f, loss %.4f on %d images%n", r[1], r[0], test.count());
            out.println("confusion matrix (rows: true class, columns: predicted)");
            out.printf("%14s", "");
            for (int c = 0; c < classes; c++) out.printf("%6d", c);
            out.println();
            for (int t = 0; t < classes; t++) {
                String[] names = test.classNames();
                String name = names != null && t < names.length ? names[t] : Integer.toString(t);
                out.printf("%2d %-11s", t, name.length() > 11 ? name.substring(0, 11) : name);
                for (int p = 0; p < classes; p++) out.printf("%6d", confusion[t][p]);
                out.println();
            }
        }
        return 0;
    }
}
