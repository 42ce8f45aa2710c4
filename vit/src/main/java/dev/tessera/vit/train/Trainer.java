package dev.tessera.vit.train;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.optim.AdamW;
import dev.tessera.engine.optim.Ema;
import dev.tessera.engine.optim.LrSchedule;
import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.data.Augment;
import dev.tessera.vit.data.Batch;
import dev.tessera.vit.data.BatchLoader;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.io.Json;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Trains a ViT: AdamW with warmup and cosine decay, clipping at global norm, optional EMA; evaluates on the test split
 * each epoch; writes OUT/metrics.jsonl, OUT/checkpoint (atomically, each epoch) and OUT/curves.png. A run resumed from
 * OUT continues exactly as the uninterrupted run would (same seed and threads): every random draw is a function of
 * (seed, epoch, step), never of how far a generator had advanced. The checkpoint records the recipe, the number of
 * training images and the optimizer, and a resume with any of them different is refused.
 */
public final class Trainer {
    private final ViTConfig model;
    private final TrainConfig recipe;
    private final Dataset train, test;
    private final Path out;
    private final PrintStream log;
    private final float mean, std;
    /** Fine-tuning: the checkpoint the weights start from (head excepted), and SGD with momentum instead of AdamW. */
    private Path init;
    private dev.tessera.vit.io.PretrainedWeights.Options initOptions = dev.tessera.vit.io.PretrainedWeights.Options.AUTO;
    private float sgdMomentum = -1;
    private String dataset, dataDir;

    public Trainer(ViTConfig model, TrainConfig recipe, Dataset train, Dataset test, Path out, PrintStream log, float mean, float std) {
        if (train.channels() != model.channels() || train.height() != model.imageHeight() || train.width() != model.imageWidth()) {
            throw new IllegalArgumentException("data " + train.channels() + "x" + train.height() + "x" + train.width() + " does not match the model's "
                    + model.channels() + "x" + model.imageHeight() + "x" + model.imageWidth());
        }
        if (train.classes() != model.numClasses()) throw new IllegalArgumentException("data has " + train.classes() + " classes, model " + model.numClasses());
        this.model = model;
        this.recipe = recipe;
        this.train = train;
        this.test = test;
        this.out = out;
        this.log = log;
        this.mean = mean;
        this.std = std;
    }

    /** Starts from the weights of {@code checkpoint} (Tessera, timm, torchvision or Hugging Face), head excepted. */
    public Trainer initFrom(Path checkpoint, dev.tessera.vit.io.PretrainedWeights.Options options) {
        this.init = checkpoint;
        this.initOptions = options;
        return this;
    }

    /**
     * Where the data came from (a dataset name as the CLI takes it, and the directory given, if one was), kept in the
     * checkpoint's state with the class names so that eval, analyze and predict find and name the same data untold.
     */
    public Trainer withDataSource(String dataset, String dataDir) {
        this.dataset = dataset;
        this.dataDir = dataDir;
        return this;
    }

    /** SGD with this momentum (the papers' fine-tuning optimizer) instead of AdamW; weight decay as the recipe says. */
    public Trainer withSgd(float momentum) {
        this.sgdMomentum = momentum;
        return this;
    }

    /** Result of a run: the metrics of each epoch. */
    public record Result(List<EpochMetrics> epochs, long offHeapGrowthAfterFirstStep) {
        public EpochMetrics last() { return epochs.getLast(); }
    }

    public Result run(boolean resume) throws IOException, InterruptedException {
        return run(resume, Integer.MAX_VALUE);
    }

    /** As {@link #run(boolean)}, stopping after epoch {@code stopAfter} as if interrupted there (tests of resume). */
    public Result run(boolean resume, int stopAfter) throws IOException, InterruptedException {
        Parallel.setThreads(recipe.threads());
        Files.createDirectories(out);
        Path ckpt = out.resolve("checkpoint"), metricsFile = out.resolve("metrics.jsonl");
        int stepsPerEpoch = train.count() / recipe.batchSize();
        if (stepsPerEpoch == 0) throw new IllegalArgumentException("batch size " + recipe.batchSize() + " exceeds the " + train.count() + " training images");
        long totalSteps = (long) stepsPerEpoch * recipe.epochs();
        LrSchedule schedule = new LrSchedule(recipe.lr(), Math.round(recipe.warmupEpochs() * stepsPerEpoch), totalSteps, LrSchedule.Decay.COSINE, recipe.minLrRatio());
        List<Augment> augments = new ArrayList<>();
        float background = -mean / std;
        if (recipe.inceptionScale() > 0) augments.add(Augment.inceptionCrop(recipe.inceptionScale()));
        if (recipe.cropPad() > 0) augments.add(Augment.randomCrop(recipe.cropPad(), background));
        if (recipe.flip()) augments.add(Augment.horizontalFlip());
        if (recipe.randAugment().enabled()) augments.add(new dev.tessera.vit.data.RandAugment(recipe.randAugment(), mean, std));

        try (VisionTransformer vit = new VisionTransformer(model, recipe.seed()); Workspace ws = new Workspace()) {
            dev.tessera.engine.optim.Optimizer opt = sgdMomentum >= 0
                    ? new dev.tessera.engine.optim.Sgd(vit.parameters(), sgdMomentum, false, recipe.weightDecay())
                    : new AdamW(vit.parameters(), 0.9f, 0.999f, 1e-8f, recipe.weightDecay());
            if (init != null && !resume) {
                try (VisionTransformer source = VisionTransformer.load(init, initOptions.withPrepack(false))) {
                    FineTune.initFrom(source, vit);
                }
                log.printf("init    weights from %s (head re-initialised to zero)%n", init);
            }
            Ema ema = recipe.emaDecay() > 0 ? new Ema(vit.parameters(), recipe.emaDecay()) : null;
            List<EpochMetrics> history = new ArrayList<>();
            int startEpoch = 1;
            if (resume) {
                Map<String, Object> state = Checkpoint.readState(ckpt);
                requireSameRun(ckpt, state);
                Checkpoint.loadWeights(Checkpoint.resolve(ckpt), vit);
                Checkpoint.loadOptimizer(ckpt, vit, opt);
                startEpoch = ((Number) state.get("epoch")).intValue() + 1;
                if (state.get("metrics") instanceof List<?> l) for (Object o : l) history.add(EpochMetrics.fromMap((Map<?, ?>) o));
                rewriteMetrics(metricsFile, history, EpochMetrics::toMap);
                log.printf("resuming from %s after epoch %d%n", ckpt, startEpoch - 1);
            } else {
                Files.deleteIfExists(metricsFile);
            }
            long growth = 0;
            boolean firstStepDone = false;
            for (int epoch = startEpoch; epoch <= Math.min(recipe.epochs(), stopAfter); epoch++) {
                long t0 = System.nanoTime();
                double lossSum = 0;
                long correct = 0, seen = 0;
                Progress bar = new Progress(log, "epoch " + epoch + "/" + recipe.epochs(), stepsPerEpoch);
                try (BatchLoader loader = new BatchLoader(train, recipe.batchSize(), true, true, recipe.seed(), epoch, mean, std, augments, recipe.mixing())) {
                    for (Batch b; (b = loader.next()) != null; ) {
                        long step = (long) (epoch - 1) * stepsPerEpoch + b.index();
                        long offHeapBefore = OffHeap.allocatedBytes();
                        long stepSeed = recipe.seed() * 0x100000001B3L + step;
                        TrainingStep.Result r = TrainingStep.run(vit, opt, ws, b.images(), b.size(), b.labels(), b.soft(), recipe.labelSmoothing(),
                                recipe.clipNorm(), schedule.at(step), stepSeed);
                        float l = r.loss();
                        if (!Float.isFinite(l)) {
                            throw new TrainingDiverged("loss is " + l + " at epoch " + epoch + ", step " + step + "; the last good checkpoint is " + ckpt);
                        }
                        if (!Double.isFinite(r.gradNorm())) {
                            throw new TrainingDiverged("gradient norm is " + r.gradNorm() + " at epoch " + epoch + ", step " + step + "; the last good checkpoint is " + ckpt);
                        }
                        correct += r.correct();
                        if (ema != null) ema.update();
                        lossSum += (double) l * b.size();
                        seen += b.size();
                        // Off-heap growth of training steps after the first (evaluation may size the workspace up).
                        if (firstStepDone) growth += OffHeap.allocatedBytes() - offHeapBefore;
                        firstStepDone = true;
                        bar.update(b.index() + 1, String.format("loss %.4f acc %.4f %.0f img/s", lossSum / seen, (double) correct / seen, seen / ((System.nanoTime() - t0) / 1e9)));
                    }
                }
                double trainSeconds = (System.nanoTime() - t0) / 1e9;
                if (ema != null) ema.swap();
                double[] ev = evaluate(vit, test, ws, recipe.evalBatch(), mean, std, null);
                if (ema != null) ema.swap();
                EpochMetrics m = new EpochMetrics(epoch, lossSum / seen, (double) correct / seen, ev[0], ev[1], seen / trainSeconds, (System.nanoTime() - t0) / 1e9);
                history.add(m);
                bar.finish(String.format("loss %.4f acc %.4f | test loss %.4f acc %.4f | %.0f img/s, %.0f s",
                        m.trainLoss(), m.trainAcc(), m.testLoss(), m.testAcc(), m.imgPerS(), m.seconds()));
                Files.writeString(metricsFile, Json.write(m.toMap()) + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                Checkpoint.save(ckpt, vit, opt, state(epoch, opt.steps(), history));
            }
            if (!history.isEmpty()) Charts.trainingCurves(history, out.resolve("curves.png"));
            return new Result(history, growth);
        }
    }

    private Map<String, Object> state(int epoch, long steps, List<EpochMetrics> history) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("epoch", epoch);
        s.put("steps", steps);
        s.put("seed", recipe.seed());
        s.put("threads", recipe.threads());
        s.put("recipe", recipe.toMap());
        s.put("train_images", train.count());
        s.put("optimizer", optimizerName());
        if (sgdMomentum >= 0) s.put("momentum", TrainConfig.exact(sgdMomentum));
        s.put("normalize_mean", (double) mean);
        s.put("normalize_std", (double) std);
        if (dataset != null) s.put("dataset", dataset);
        if (dataDir != null) s.put("data", dataDir);
        if (train.classNames() != null) s.put("class_names", List.of(train.classNames()));
        s.put("metrics", metricsList(history, EpochMetrics::toMap));
        return s;
    }

    private String optimizerName() { return sgdMomentum >= 0 ? "sgd" : "adamw"; }

    /** {@link ResumeCheck}'s conditions, and the same optimizer. */
    private void requireSameRun(Path ckpt, Map<String, Object> state) throws IOException {
        if (Pretrainer.isPretraining(state)) {
            throw new IllegalArgumentException(ckpt + " is a masked-patch-prediction pre-training run: resume it with `tessera pretrain --resume`, "
                    + "or fine-tune from it with `tessera train --init " + ckpt + "`");
        }
        List<String> diff = ResumeCheck.differences(ckpt, state, model, recipe, train.count(), log);
        if (state.get("optimizer") instanceof String o && !o.equals(optimizerName())) diff.add("optimizer " + o + " -> " + optimizerName());
        if (state.get("momentum") instanceof Number m && sgdMomentum >= 0 && m.floatValue() != sgdMomentum) diff.add("momentum " + m + " -> " + sgdMomentum);
        ResumeCheck.refuseIfAny(ckpt, diff);
    }

    /** OUT/metrics.jsonl as the history so far (a resumed run's), one line per epoch in the given form. */
    static void rewriteMetrics(Path file, List<EpochMetrics> history, java.util.function.Function<EpochMetrics, Map<String, Object>> line) throws IOException {
        StringBuilder b = new StringBuilder();
        for (EpochMetrics m : history) b.append(Json.write(line.apply(m))).append('\n');
        Files.writeString(file, b.toString());
    }

    /** The history as the state's "metrics" list, each epoch in the given form. */
    static List<Object> metricsList(List<EpochMetrics> history, java.util.function.Function<EpochMetrics, Map<String, Object>> line) {
        List<Object> ms = new ArrayList<>();
        for (EpochMetrics m : history) ms.add(line.apply(m));
        return ms;
    }

    static int countCorrect(Tensor logits, int[] labels) {
        int rows = logits.dim(0), cols = logits.dim(1), correct = 0;
        for (int r = 0; r < rows; r++) {
            if (argmax(logits, r, cols) == labels[r]) correct++;
        }
        return correct;
    }

    static int argmax(Tensor logits, int r, int cols) {
        int best = 0;
        float bv = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < cols; c++) {
            float v = logits.getFlat((long) r * cols + c);
            if (v > bv) { bv = v; best = c; }
        }
        return best;
    }

    /**
     * Mean loss and accuracy over a dataset in inference mode; fills confusion[truth][predicted] when given.
     */
    public static double[] evaluate(VisionTransformer vit, Dataset data, Workspace ws, int batch, float mean, float std, long[][] confusion)
            throws InterruptedException {
        return evaluate(vit, data, ws, batch, mean, std, confusion, false);
    }

    /**
     * {@link #evaluate}, with {@code flipAverage} the logits averaged over each image and its mirror image (test-time
     * augmentation for a model trained with flips).
     */
    public static double[] evaluate(VisionTransformer vit, Dataset data, Workspace ws, int batch, float mean, float std, long[][] confusion,
                                    boolean flipAverage) throws InterruptedException {
        ViTConfig c = vit.config();
        double lossSum = 0;
        long correct = 0;
        try (BatchLoader loader = new BatchLoader(data, batch, false, false, 0, 0, mean, std, List.of())) {
            for (Batch b; (b = loader.next()) != null; ) {
                Tape tape = Tape.inference(ws);
                Tensor x = ws.allocate(b.size(), c.channels(), c.imageHeight(), c.imageWidth()).copyFrom(b.images());
                Tensor logits = vit.forward(tape, x, 0);
                if (flipAverage) {
                    Tensor mirrored = ws.allocate(b.size(), c.channels(), c.imageHeight(), c.imageWidth()).copyFrom(mirror(b.images(), c.imageWidth()));
                    logits = Ops.scale(tape, Ops.add(tape, logits, vit.forward(tape, mirrored, 0)), 0.5f);
                }
                lossSum += Ops.crossEntropy(tape, logits, b.labels(), null, 0f).getFlat(0) * b.size();
                for (int r = 0; r < b.size(); r++) {
                    int p = argmax(logits, r, c.numClasses());
                    if (p == b.labels()[r]) correct++;
                    if (confusion != null) confusion[b.labels()[r]][p]++;
                }
                tape.reset();
            }
        }
        return new double[] {lossSum / data.count(), (double) correct / data.count()};
    }

    /** Each row of width w reversed: the images left-right mirrored. */
    static float[] mirror(float[] images, int w) {
        float[] m = new float[images.length];
        for (int r = 0; r < images.length; r += w) {
            for (int x = 0; x < w; x++) m[r + x] = images[r + w - 1 - x];
        }
        return m;
    }
}
