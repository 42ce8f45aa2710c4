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
     * The default Fashion-MNIST recipe: 28 epochs of AdamW (lr 2e-3, wd 0.05), 2 warmup epochs then cosine, smoothing 0.1,
     * crop (pad 2) and flip: as many epochs as fit an hour on two cores here with room for a slow spell (the README has
     * the runs).
     */
    public static TrainConfig fashionMnist() {
        return new TrainConfig(28, 128, 2e-3f, 0.05f, 2f, 0.01f, 0.1f, 1f, 0f, 2, true, 0, Runtime.getRuntime().availableProcessors(), 500,
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
}
