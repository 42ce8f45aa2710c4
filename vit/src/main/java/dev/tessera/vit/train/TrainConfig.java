package dev.tessera.vit.train;

/**
 * A training recipe. {@link #fashionMnist()} is the default for Fashion-MNIST; every field can be overridden from the
 * command line.
 */
public record TrainConfig(int epochs, int batchSize, float lr, float weightDecay, float warmupEpochs, float minLrRatio,
                          float labelSmoothing, float clipNorm, float emaDecay, int cropPad, boolean flip,
                          long seed, int threads, int evalBatch, dev.tessera.vit.data.Mixing mixing) {

    public TrainConfig {
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be > 0, got " + lr);
        if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0");
        if (labelSmoothing < 0 || labelSmoothing >= 1) throw new IllegalArgumentException("label smoothing must be in [0, 1)");
        if (emaDecay < 0 || emaDecay >= 1) throw new IllegalArgumentException("EMA decay must be in [0, 1) (0 = off)");
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }

    /** The default Fashion-MNIST recipe: AdamW, warmup then cosine, smoothing 0.1, crop and flip augmentation. */
    public static TrainConfig fashionMnist() {
        return new TrainConfig(30, 128, 1e-3f, 0.05f, 2f, 0.01f, 0.1f, 1f, 0f, 2, true, 0, Runtime.getRuntime().availableProcessors(), 500,
                dev.tessera.vit.data.Mixing.NONE);
    }

    public TrainConfig withEpochs(int e) { return new TrainConfig(e, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing); }
    public TrainConfig withBatchSize(int b) { return new TrainConfig(epochs, b, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing); }
    public TrainConfig withLr(float l) { return new TrainConfig(epochs, batchSize, l, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing); }
    public TrainConfig withWeightDecay(float w) { return new TrainConfig(epochs, batchSize, lr, w, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing); }
    public TrainConfig withSeed(long s) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, s, threads, evalBatch, mixing); }
    public TrainConfig withThreads(int t) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, t, evalBatch, mixing); }
    public TrainConfig withWarmup(float w) { return new TrainConfig(epochs, batchSize, lr, weightDecay, w, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing); }
    public TrainConfig withSmoothing(float s) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, s, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, mixing); }
    public TrainConfig withAugment(int pad, boolean fl) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, pad, fl, seed, threads, evalBatch, mixing); }
    public TrainConfig withMixing(dev.tessera.vit.data.Mixing m) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, emaDecay, cropPad, flip, seed, threads, evalBatch, m); }
    public TrainConfig withEma(float d) { return new TrainConfig(epochs, batchSize, lr, weightDecay, warmupEpochs, minLrRatio, labelSmoothing, clipNorm, d, cropPad, flip, seed, threads, evalBatch, mixing); }
}
