package dev.tessera.vit.cli;

import dev.tessera.vit.data.DataSources;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.train.Pretrainer;
import dev.tessera.vit.train.TrainConfig;
import dev.tessera.vit.train.Trainer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code tessera ablate}: the small-dataset methods against the plain ViT on Fashion-MNIST, same epochs and seeds for
 * all: the baseline, +SPT+LSA, +DRLoc, and MPP pre-training (on all training images, labels unused) then
 * fine-tuning; each on all labels and on a stratified fraction of them. Writes OUT/ablation.md (mean and standard
 * deviation of test accuracy over the seeds, and wall time) and keeps every run's directory.
 */
final class AblateCommand {
    private AblateCommand() {}

    record Cell(String method, double fraction, List<Double> acc, List<Double> seconds) {}

    static int run(String[] argv, PrintStream out) throws IOException, InterruptedException {
        Args a = new Args(argv, Set.of("quick"), Set.of("data", "epochs", "pretrain-epochs", "seeds", "fractions", "out", "threads", "train-limit", "methods"));
        boolean quick = a.flag("quick");
        int epochs = a.integer("epochs", quick ? 1 : 5), pre = a.integer("pretrain-epochs", epochs);
        List<Long> seeds = new ArrayList<>();
        for (String s : a.str("seeds", quick ? "1" : "1,2").split(",")) seeds.add(Long.parseLong(s.trim()));
        List<Double> fractions = new ArrayList<>();
        for (String s : a.str("fractions", "1,0.1").split(",")) fractions.add(Double.parseDouble(s.trim()));
        List<String> methods = List.of(a.str("methods", "baseline,spt+lsa,drloc,mpp").split(","));
        for (String m : methods) if (!List.of("baseline", "spt+lsa", "drloc", "mpp").contains(m)) throw new UsageException("unknown method '" + m + "': baseline, spt+lsa, drloc, mpp");
        Path outDir = Path.of(a.str("out", "runs/ablation"));
        String data = a.str("data", null);
        FashionMnist.Splits splits = DataSources.load("fashion-mnist", data == null ? null : Path.of(data), 1, 28);
        Dataset all = splits.train();
        int limit = a.integer("train-limit", quick ? 2000 : 0);
        if (limit > 0) all = all.head(limit);
        Dataset test = quick ? splits.test().head(2000) : splits.test();
        int threads = a.integer("threads", Runtime.getRuntime().availableProcessors());
        TrainConfig base = TrainConfig.fashionMnist().withEpochs(epochs).withThreads(threads).withWarmup(Math.min(2f, epochs / 4f));
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        out.printf("ablate  %s x labels %s x seeds %s, %d epochs each (MPP: %d pre-training epochs) -> %s%n", methods, fractions, seeds, epochs, pre, outDir);

        Map<String, Cell> cells = new LinkedHashMap<>();
        Map<Long, Path> pretrained = new LinkedHashMap<>();
        Map<Long, Double> pretrainSeconds = new LinkedHashMap<>();
        for (double f : fractions) {
            for (String m : methods) {
                Cell cell = new Cell(m, f, new ArrayList<>(), new ArrayList<>());
                cells.put(m + "@" + f, cell);
                for (long seed : seeds) {
                    Dataset train = all.labelFraction(f, seed);
                    ViTConfig mc = TrainCommand.defaultModel().withRegularisation(0f, 0f, 0f, 0.1f);
                    if (m.equals("spt+lsa")) mc = mc.withSmallDataMethods(true, true);
                    if (m.equals("drloc")) mc = mc.withDrloc(0.1f);
                    Path dir = outDir.resolve(String.format(Locale.ROOT, "%s-labels%.0f%%-seed%d", m.replace('+', '_'), 100 * f, seed));
                    long t0 = System.nanoTime();
                    int bs = base.batchSize();
                    while (bs > 8 && train.count() < 4 * bs) bs /= 2;           // tiny label fractions (--quick) still get steps
                    Trainer trainer = new Trainer(mc, base.withSeed(seed).withBatchSize(bs), train, test, dir, quiet, TrainCommand.MEAN, TrainCommand.STD);
                    if (m.equals("mpp")) {
                        Path ck = pretrained.get(seed);
                        if (ck == null) {
                            // Self-supervised on every training image: the labels a fraction hides are not used here either.
                            Path pdir = outDir.resolve("mpp-pretrain-seed" + seed);
                            double done = limit == 0 ? finishedPretraining(pdir, pre) : 0;
                            if (done > 0) {
                                // A re-run (e.g. the other label fraction) reuses it; its time still counts in the row.
                                out.printf("  reusing the finished MPP pre-training in %s (%.0f s)%n", pdir, done);
                                pretrainSeconds.put(seed, done);
                            } else {
                                out.printf("  pre-training MPP, seed %d, %d epochs ...%n", seed, pre);
                                long p0 = System.nanoTime();
                                new Pretrainer(mc, base.withEpochs(pre).withSeed(seed).withAugment(0, true), all, pdir, quiet, TrainCommand.MEAN, TrainCommand.STD).run();
                                pretrainSeconds.put(seed, (System.nanoTime() - p0) / 1e9);
                            }
                            ck = pdir.resolve("checkpoint");
                            pretrained.put(seed, ck);
                            t0 = System.nanoTime();
                        }
                        trainer.initFrom(ck, dev.tessera.vit.io.PretrainedWeights.Options.AUTO);
                    }
                    double acc = trainer.run(false).last().testAcc();
                    double sec = (System.nanoTime() - t0) / 1e9 + (m.equals("mpp") ? pretrainSeconds.get(seed) : 0);
                    cell.acc().add(acc);
                    cell.seconds().add(sec);
                    out.printf("  %-9s labels %5.1f%%  seed %d: test accuracy %.4f (%.0f s)%n", m, 100 * f, seed, acc, sec);
                }
            }
        }
        String table = table(cells.values(), epochs, pre, seeds.size(), all.count());
        Files.createDirectories(outDir);
        Files.writeString(outDir.resolve("ablation.md"), table);
        out.print(table);
        out.println("written to " + outDir.resolve("ablation.md"));
        return 0;
    }

    /**
     * The wall time of a pre-training that finished {@code epochs} epochs in {@code dir} (its checkpoint and
     * metrics.jsonl are there), or 0 when there is none to reuse.
     */
    static double finishedPretraining(Path dir, int epochs) throws IOException {
        Path metrics = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(metrics) || !Files.isDirectory(dir.resolve("checkpoint"))) return 0;
        List<String> lines = Files.readAllLines(metrics).stream().filter(l -> !l.isBlank()).toList();
        if (lines.size() != epochs) return 0;
        double seconds = 0;
        for (String l : lines) {
            Object v = ((Map<?, ?>) dev.tessera.vit.io.Json.parse(l)).get("seconds");
            if (!(v instanceof Number n)) return 0;
            seconds += n.doubleValue();
        }
        return seconds;
    }

    static String table(Iterable<Cell> cells, int epochs, int pre, int seeds, int images) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "| method | labels | test accuracy (mean ± std over %d seed%s) | wall time per run |%n", seeds, seeds > 1 ? "s" : ""));
        b.append("| --- | --- | --- | --- |\n");
        for (Cell c : cells) {
            double mean = c.acc().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
            double var = c.acc().stream().mapToDouble(x -> (x - mean) * (x - mean)).sum() / Math.max(1, c.acc().size() - 1);
            double sec = c.seconds().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
            b.append(String.format(Locale.ROOT, "| %s | %.0f%% | %.2f%% ± %.2f | %.1f min |%n", c.method(), 100 * c.fraction(), 100 * mean,
                    c.acc().size() > 1 ? 100 * Math.sqrt(var) : 0.0, sec / 60));
        }
        b.append(String.format(Locale.ROOT, "%n%d epochs per run on %d training images (or the labelled fraction of them); MPP pre-trains %d epochs on all "
                + "of them first (included in its wall time).%n", epochs, images, pre));
        return b.toString();
    }
}
