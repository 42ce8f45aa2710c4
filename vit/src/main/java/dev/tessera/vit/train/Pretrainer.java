package dev.tessera.vit.train;

import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.optim.AdamW;
import dev.tessera.engine.optim.GradClip;
import dev.tessera.engine.optim.LrSchedule;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.data.Augment;
import dev.tessera.vit.data.Batch;
import dev.tessera.vit.data.BatchLoader;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.io.Json;
import dev.tessera.vit.model.MaskedPatchPrediction;
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
 * Self-supervised pre-training by masked patch prediction on the training images, labels unused: AdamW, warmup and
 * cosine, clipping, a checkpoint each epoch (OUT/checkpoint, loadable by {@code train --init}, with the recipe and the
 * metrics so far in its state), OUT/metrics.jsonl with the MPP loss and accuracy, and their chart, OUT/curves.png. A run
 * resumes from its checkpoint.
 */
public final class Pretrainer {
    private final ViTConfig model;
    private final TrainConfig recipe;
    private final Dataset train;
    private final Path out;
    private final PrintStream log;
    private final float mean, std;
    private String dataset, dataDir;

    public Pretrainer(ViTConfig model, TrainConfig recipe, Dataset train, Path out, PrintStream log, float mean, float std) {
        this.model = model;
        this.recipe = recipe;
        this.train = train;
        this.out = out;
        this.log = log;
        this.mean = mean;
        this.std = std;
    }

    /** Where the images came from, kept in the checkpoint's state (see {@link Trainer#withDataSource}). */
    public Pretrainer withDataSource(String dataset, String dataDir) {
        this.dataset = dataset;
        this.dataDir = dataDir;
        return this;
    }

    /** The last epoch's MPP loss and accuracy (of the corrupted patches' colour classes), and its number. */
    public record Result(double loss, double accuracy, int epochs) {}

    public Result run() throws IOException, InterruptedException {
        return run(false, Integer.MAX_VALUE);
    }

    /**
     * With {@code resume}, continues the run in OUT from its checkpoint: the same model, recipe and number of images
     * (anything else is refused, see {@link ResumeCheck}); the result is the uninterrupted run's. {@code stopAfter} ends
     * the run after that epoch as if interrupted there (tests of resume).
     */
    public Result run(boolean resume, int stopAfter) throws IOException, InterruptedException {
        Parallel.setThreads(recipe.threads());
        Files.createDirectories(out);
        Path ckpt = out.resolve("checkpoint"), metrics = out.resolve("metrics.jsonl");
        int stepsPerEpoch = train.count() / recipe.batchSize();
        if (stepsPerEpoch == 0) throw new IllegalArgumentException("batch size " + recipe.batchSize() + " exceeds the " + train.count() + " training images");
        LrSchedule schedule = new LrSchedule(recipe.lr(), Math.round(recipe.warmupEpochs() * stepsPerEpoch), (long) stepsPerEpoch * recipe.epochs(),
                LrSchedule.Decay.COSINE, recipe.minLrRatio());
        List<Augment> augments = new ArrayList<>();
        if (recipe.flip()) augments.add(Augment.horizontalFlip());
        List<EpochMetrics> history = new ArrayList<>();   // the MPP loss and accuracy as "train" loss and accuracy
        try (VisionTransformer vit = new VisionTransformer(model, recipe.seed()); Workspace ws = new Workspace()) {
            MaskedPatchPrediction mpp = new MaskedPatchPrediction(vit);
            AdamW opt = new AdamW(vit.parameters(), 0.9f, 0.999f, 1e-8f, recipe.weightDecay());
            int startEpoch = 1;
            if (resume) {
                Map<String, Object> state = Checkpoint.readState(ckpt);
                if (!isPretraining(state)) {
                    throw new IllegalArgumentException(ckpt + " is not a masked-patch-prediction pre-training run (a supervised one resumes with `tessera train --resume`)");
                }
                ResumeCheck.refuseIfAny(ckpt, ResumeCheck.differences(ckpt, state, model, recipe, train.count(), log));
                Checkpoint.loadWeights(Checkpoint.resolve(ckpt), vit);
                Checkpoint.loadOptimizer(ckpt, vit, opt);
                startEpoch = ((Number) state.get("epoch")).intValue() + 1;
                if (state.get("metrics") instanceof List<?> l) for (Object o : l) history.add(fromMap((Map<?, ?>) o));
                Trainer.rewriteMetrics(metrics, history, Pretrainer::toMap);
                log.printf("resuming from %s after epoch %d%n", ckpt, startEpoch - 1);
            } else {
                Files.deleteIfExists(metrics);
            }
            for (int epoch = startEpoch; epoch <= Math.min(recipe.epochs(), stopAfter); epoch++) {
                long t0 = System.nanoTime();
                double lossSum = 0;
                long correct = 0, predicted = 0, seen = 0;
                Progress bar = new Progress(log, "mpp epoch " + epoch + "/" + recipe.epochs(), stepsPerEpoch);
                try (BatchLoader loader = new BatchLoader(train, recipe.batchSize(), true, true, recipe.seed(), epoch, mean, std, augments, dev.tessera.vit.data.Mixing.NONE)) {
                    for (Batch b; (b = loader.next()) != null; ) {
                        long step = (long) (epoch - 1) * stepsPerEpoch + b.index();
                        Tape tape = Tape.training(ws);
                        vit.parameters().zeroGrad();
                        Tensor x = ws.allocate(b.size(), model.channels(), model.imageHeight(), model.imageWidth()).copyFrom(b.images());
                        float[] pixels = new float[b.images().length];
                        for (int i = 0; i < pixels.length; i++) pixels[i] = b.images()[i] * std + mean;
                        MaskedPatchPrediction.Step s = mpp.loss(tape, x, pixels, recipe.seed() * 0x9E3779B97F4A7C15L + step);
                        float l = s.loss().getFlat(0);
                        if (!Float.isFinite(l)) throw new TrainingDiverged("MPP loss is " + l + " at epoch " + epoch + ", step " + step + "; the last good checkpoint is " + ckpt);
                        tape.backward(s.loss());
                        GradClip.clipGlobalNorm(vit.parameters().all(), recipe.clipNorm() > 0 ? recipe.clipNorm() : Double.MAX_VALUE);
                        opt.step(schedule.at(step));
                        tape.reset();
                        lossSum += (double) l * b.size();
                        seen += b.size();
                        correct += s.correct();
                        predicted += s.predicted();
                        bar.update(b.index() + 1, String.format("loss %.4f acc %.4f %.0f img/s", lossSum / seen, (double) correct / predicted, seen / ((System.nanoTime() - t0) / 1e9)));
                    }
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                double loss = lossSum / seen, acc = (double) correct / predicted;
                bar.finish(String.format("mpp loss %.4f, colour accuracy %.4f of corrupted patches | %.0f img/s, %.0f s", loss, acc, seen / seconds, seconds));
                EpochMetrics m = new EpochMetrics(epoch, loss, acc, Double.NaN, Double.NaN, seen / seconds, seconds);
                history.add(m);
                Files.writeString(metrics, Json.write(toMap(m)) + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                Checkpoint.save(ckpt, vit, opt, state(epoch, opt.steps(), history));
            }
        }
        if (history.isEmpty()) return new Result(Double.NaN, Double.NaN, 0);
        Charts.curves(history, out.resolve("curves.png"), "MPP loss", "MPP accuracy");
        EpochMetrics last = history.getLast();
        return new Result(last.trainLoss(), last.trainAcc(), last.epoch());
    }

    /** Whether a checkpoint's state is a pre-training run's (what {@link #state} writes). */
    public static boolean isPretraining(Map<?, ?> state) {
        return OBJECTIVE.equals(state.get("objective"));
    }

    private static final String OBJECTIVE = "mpp";

    /** An epoch's line of OUT/metrics.jsonl, and its entry in the state: the MPP loss and accuracy as measured. */
    private static Map<String, Object> toMap(EpochMetrics m) {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("epoch", m.epoch());
        j.put("mpp_loss", m.trainLoss());
        j.put("mpp_acc", m.trainAcc());
        j.put("img_per_s", m.imgPerS());
        j.put("seconds", m.seconds());
        return j;
    }

    private static EpochMetrics fromMap(Map<?, ?> j) {
        return new EpochMetrics(((Number) j.get("epoch")).intValue(), ((Number) j.get("mpp_loss")).doubleValue(), ((Number) j.get("mpp_acc")).doubleValue(),
                Double.NaN, Double.NaN, ((Number) j.get("img_per_s")).doubleValue(), ((Number) j.get("seconds")).doubleValue());
    }

    private Map<String, Object> state(int epoch, long steps, List<EpochMetrics> history) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("epoch", epoch);
        s.put("steps", steps);
        s.put("objective", OBJECTIVE);
        s.put("recipe", recipe.toMap());
        s.put("train_images", train.count());
        s.put("optimizer", "adamw");
        s.put("normalize_mean", (double) mean);
        s.put("normalize_std", (double) std);
        if (dataset != null) s.put("dataset", dataset);
        if (dataDir != null) s.put("data", dataDir);
        s.put("metrics", Trainer.metricsList(history, Pretrainer::toMap));
        return s;
    }
}
