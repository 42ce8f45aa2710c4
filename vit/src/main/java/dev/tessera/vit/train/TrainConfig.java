package dev.tessera.vit.train;

/**
 * A training recipe. {@link #fashionMnist()} is the default for Fashion-MNIST; every field can be overridden from the
 * command line.
 */
public record TrainConfig(int epochs, int batchSize, float lr, float weightDecay, float warmupEpochs, float minLrRatio,
                          float labelSmoothing, float clipNorm, float emaDecay, int cropPad, boolean flip,
                          long seed, int threads, int evalBatch, dev.tessera.vit.data.Mixing mixing,
                          float inceptionScale, dev.tessera.vit.data.RandAugment.Policy randAugment) {

    public TrainConfig {
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be > 0, got " + lr);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0");
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new IllegalArgumentException("label smoothing must be in [0, 1)");
        if (!(emaDecay >= 0 && emaDecay < 1)) throw new IllegalArgumentException("EMA decay must be in [0, 1) (0 = off)");
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (!(warmupEpochs >= 0)) throw new IllegalArgumentException("warmup must be >= 0 epochs, got " + warmupEpochs);
        if (!(minLrRatio >= 0 && minLrRatio <= 1)) throw new IllegalArgumentException("final learning-rate ratio must be in [0, 1], got " + minLrRatio);
        if (Float.isNaN(clipNorm)) throw new IllegalArgumentException("clipping norm must be a number (<= 0 = off)");
        if (cropPad < 0) throw new IllegalArgumentException("crop padding must be >= 0 pixels, got " + cropPad);
        if (randAugment == null) throw new IllegalArgumentException("RandAugment policy must not be null (use Policy.NONE)");
        if (inceptionScale < 0 || inceptionScale >= 1) throw new IllegalArgumentException("Inception crop min scale must be in [0, 1) (0 = off)");
    }

    /**
     * The default Fashion-MNIST recipe: 36 epochs of AdamW (lr 2e-3, wd 0.05), 2 warmup epochs then cosine, smoothing 0.1,
     * crop (pad 2) and flip: as many epochs as fit an hour on two Zen 5 cores with room for a slow spell (51 minutes
     * there; 28 epochs until 2026-12-02, when the step had become fast enough for more: bench/MEASUREMENTS.md has the runs).
     */
    public static TrainConfig fashionMnist() {
        return new TrainConfig(36, 128, 2e-3f, 0.05f, 2f, 0.01f, 0.1f, 1f, 0f, 2, true, 0, Runtime.getRuntime().availableProcessors(), 500,
                dev.tessera.vit.data.Mixing.NONE, 0f, dev.tessera.vit.data.RandAugment.Policy.NONE);
    }

    public TrainConfig withEpochs(int e) { return new TrainConfig(e, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withBatchSize(int b) { return new TrainConfig(epochs, b, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withLr(float l) { return new TrainConfig(epochs, batchSize, l, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withWeightDecay(float w) { return new TrainConfig(epochs, batchSize, lr, w, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withSeed(long s) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, s, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withThreads(int t) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, t, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withWarmup(float w) { return new TrainConfig(epochs, batchSize, lr, weightDecay, w, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withSmoothing(float s) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, s, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withAugment(int pad, boolean fl) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, pad, fl, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withMixing(dev.tessera.vit.data.Mixing m) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, m, inceptionScale, randAugment); }
    public TrainConfig withInceptionCrop(float minScale) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, minScale, randAugment); }
    public TrainConfig withEma(float d) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, d, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, randAugment); }
    public TrainConfig withRandAugment(dev.tessera.vit.data.RandAugment.Policy p) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing, inceptionScale, p); }

    /**
     * The recipe as a JSON object for a checkpoint's state.json, so that a resumed run continues with the recipe it was
     * started with rather than with whatever the command line or the defaults say that day. Floats go through their
     * shortest decimal form, which reads back to the same float.
     */
    public java.util.Map<String, Object> toMap() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("epochs", epochs);
        m.put("batch_size", batchSize);
        m.put("lr", exact(lr));
        m.put("weight_decay", exact(weightDecay));
        m.put("warmup_epochs", exact(warmupEpochs));
        m.put("min_lr_ratio", exact(minLrRatio));
        m.put("label_smoothing", exact(labelSmoothing));
        m.put("clip_norm", exact(clipNorm));
        m.put("ema_decay", exact(emaDecay));
        m.put("crop_pad", cropPad);
        m.put("flip", flip);
        m.put("seed", seed);
        m.put("threads", threads);
        m.put("eval_batch", evalBatch);
        m.put("mixup_alpha", exact(mixing.mixupAlpha()));
        m.put("cutmix_alpha", exact(mixing.cutmixAlpha()));
        m.put("mix_prob", exact(mixing.prob()));
        m.put("mix_switch_prob", exact(mixing.switchProb()));
        m.put("inception_scale", exact(inceptionScale));
        m.put("randaugment_ops", randAugment.ops());
        m.put("randaugment_magnitude", randAugment.magnitude());
        return m;
    }

    /** The recipe {@link #toMap} wrote; a missing or mistyped field is an IllegalArgumentException naming it. */
    public static TrainConfig fromMap(java.util.Map<?, ?> m) {
        return new TrainConfig(integer(m, "epochs"), integer(m, "batch_size"), number(m, "lr"), number(m, "weight_decay"),
                number(m, "warmup_epochs"), number(m, "min_lr_ratio"), number(m, "label_smoothing"), number(m, "clip_norm"),
                number(m, "ema_decay"), integer(m, "crop_pad"), bool(m, "flip"), longValue(m, "seed"), integer(m, "threads"),
                integer(m, "eval_batch"),
                new dev.tessera.vit.data.Mixing(number(m, "mixup_alpha"), number(m, "cutmix_alpha"), number(m, "mix_prob"), number(m, "mix_switch_prob")),
                number(m, "inception_scale"),
                new dev.tessera.vit.data.RandAugment.Policy(integer(m, "randaugment_ops"), integer(m, "randaugment_magnitude")));
    }

    /**
     * The fields in which {@code other} trains differently from this recipe, as "name this -> other", ignoring the
     * thread count and the evaluation batch (they change how fast, not what is learned; a different thread count
     * changes only the order of sums).
     */
    public java.util.List<String> trainingDifferences(TrainConfig other) {
        java.util.Map<String, Object> a = toMap(), b = other.toMap();
        java.util.List<String> diff = new java.util.ArrayList<>();
        for (String k : a.keySet()) {
            if (k.equals("threads") || k.equals("eval_batch")) continue;
            if (!a.get(k).equals(b.get(k))) diff.add(k + " " + a.get(k) + " -> " + b.get(k));
        }
        return diff;
    }

    /** A float as the double of its shortest decimal form (0.9, not 0.8999999761581421), for JSON that reads back exactly. */
    static double exact(float f) { return Double.parseDouble(Float.toString(f)); }

    private static Object field(java.util.Map<?, ?> m, String k) {
        Object v = m.get(k);
        if (v == null) throw new IllegalArgumentException("recipe has no " + k);
        return v;
    }

    private static float number(java.util.Map<?, ?> m, String k) {
        if (!(field(m, k) instanceof Number n)) throw new IllegalArgumentException("recipe's " + k + " is not a number: " + m.get(k));
        return n.floatValue();
    }

    private static long longValue(java.util.Map<?, ?> m, String k) {
        if (!(field(m, k) instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw new IllegalArgumentException("recipe's " + k + " is not an integer: " + m.get(k));
        }
        return n.longValue();
    }

    private static int integer(java.util.Map<?, ?> m, String k) {
        long v = longValue(m, k);
        if (v != (int) v) throw new IllegalArgumentException("recipe's " + k + " is out of range: " + v);
        return (int) v;
    }

    private static boolean bool(java.util.Map<?, ?> m, String k) {
        if (!(field(m, k) instanceof Boolean b)) throw new IllegalArgumentException("recipe's " + k + " is not true or false: " + m.get(k));
        return b;
    }
}
