package dev.tessera.vit.data;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Decodes, normalises and augments batches on a background thread, a few batches ahead of the model. The order is a
 * seeded shuffle per epoch and each batch's augmentations are drawn from (seed, epoch, batch), so the stream is the
 * same whatever the timing. Iterate with {@link #next()} until it returns null; close to stop early.
 */
public final class BatchLoader implements AutoCloseable {
    private static final Batch END = new Batch(new float[0], new int[0], null, 0, -1);

    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(4);
    private final Thread worker;
    private volatile boolean closed;
    private final int batches;

    /**
     * @param shuffle   shuffle and augment (training) or keep order and skip augmentation (evaluation)
     * @param dropLast  drop the final short batch (training keeps shapes, and so the workspace, steady)
     */
    public BatchLoader(Dataset data, int batchSize, boolean shuffle, boolean dropLast, long seed, int epoch,
                       float mean, float std, List<Augment> augments) {
        this(data, batchSize, shuffle, dropLast, seed, epoch, mean, std, augments, Mixing.NONE);
    }

    /** As above, with Mixup/CutMix applied to training batches (shuffle = true) when {@code mixing} is enabled. */
    public BatchLoader(Dataset data, int batchSize, boolean shuffle, boolean dropLast, long seed, int epoch,
                       float mean, float std, List<Augment> augments, Mixing mixing) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        int n = data.count();
        this.batches = dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
        if (batches == 0) throw new IllegalArgumentException(data.name() + ": " + n + " images do not fill one batch of " + batchSize);
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        if (shuffle) {
            SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        int c = data.channels(), h = data.height(), w = data.width(), px = c * h * w;
        float inv = 1f / (255f * std), shift = mean / std;
        worker = new Thread(() -> {
            float[] scratch = new float[px], img = new float[px];
            try {
                for (int b = 0; b < batches && !closed; b++) {
                    int from = b * batchSize, size = Math.min(batchSize, n - from);
                    float[] images = new float[size * px];
                    int[] labels = new int[size];
                    SplittableRandom rng = new SplittableRandom((seed * 31 + epoch) * 1_000_003L + b);
                    for (int i = 0; i < size; i++) {
                        int idx = order[from + i];
                        labels[i] = data.labels()[idx];
                        int base = idx * px;
                        for (int k = 0; k < px; k++) img[k] = (data.pixels()[base + k] & 0xff) * inv - shift;
                        if (shuffle) for (Augment a : augments) a.apply(img, c, h, w, scratch, rng);
                        System.arraycopy(img, 0, images, i * px, px);
                    }
                    float[] soft = shuffle && mixing.enabled() ? mixing.apply(images, labels, size, c, h, w, data.classes(), rng) : null;
                    put(new Batch(images, labels, soft, size, b));
                }
                put(END);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                try {
                    put(e);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }
        }, "tessera-loader");
        worker.setDaemon(true);
        worker.start();
    }

    private void put(Object o) throws InterruptedException {
        while (!closed && !queue.offer(o, 100, TimeUnit.MILLISECONDS)) {
            // wait for the consumer, or for close()
        }
    }

    public int batches() { return batches; }

    /** The next batch, or null at the end of the epoch. */
    public Batch next() throws InterruptedException {
        Object o = queue.take();
        if (o instanceof RuntimeException e) throw new IllegalStateException("data loader failed: " + e.getMessage(), e);
        Batch b = (Batch) o;
        return b == END ? null : b;
    }

    @Override
    public void close() {
        closed = true;
        worker.interrupt();
    }
}
