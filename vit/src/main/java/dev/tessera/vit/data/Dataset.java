package dev.tessera.vit.data;

/**
 * Images as bytes (N, C, H, W) in [0, 255] plus labels; small enough for Fashion-MNIST-sized data to stay on the heap
 * (47 MB for the 60k training images) and be decoded once.
 */
public record Dataset(String name, byte[] pixels, int[] labels, int count, int channels, int height, int width, int classes,
                      String[] classNames) {

    public Dataset {
        if ((long) count * channels * height * width != pixels.length) {
            throw new IllegalArgumentException(name + ": " + pixels.length + " pixel bytes for " + count + " images of " + channels + "x" + height + "x" + width);
        }
        if (labels.length != count) throw new IllegalArgumentException(name + ": " + labels.length + " labels for " + count + " images");
        for (int i = 0; i < count; i++) {
            if (labels[i] < 0 || labels[i] >= classes) throw new IllegalArgumentException(name + ": label " + labels[i] + " of image " + i + " outside [0, " + classes + ")");
        }
    }

    public int imageBytes() { return channels * height * width; }

    /** The first {@code n} images of each ... simply the first n images (a quick subset for smoke runs). */
    public Dataset head(int n) {
        int k = Math.min(n, count);
        return new Dataset(name + "[:" + k + "]", java.util.Arrays.copyOf(pixels, k * imageBytes()), java.util.Arrays.copyOf(labels, k),
                k, channels, height, width, classes, classNames);
    }

    /** A seeded subset of {@code fraction} of the images, the same fraction of each class. */
    public Dataset labelFraction(double fraction, long seed) {
        if (fraction >= 1) return this;
        java.util.List<Integer>[] byClass = new java.util.List[classes];
        for (int c = 0; c < classes; c++) byClass[c] = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) byClass[labels[i]].add(i);
        java.util.Random rng = new java.util.Random(seed);
        java.util.List<Integer> keep = new java.util.ArrayList<>();
        for (java.util.List<Integer> l : byClass) {
            java.util.Collections.shuffle(l, rng);
            keep.addAll(l.subList(0, (int) Math.ceil(l.size() * fraction)));
        }
        java.util.Collections.sort(keep);
        byte[] px = new byte[keep.size() * imageBytes()];
        int[] lb = new int[keep.size()];
        for (int i = 0; i < keep.size(); i++) {
            System.arraycopy(pixels, keep.get(i) * imageBytes(), px, i * imageBytes(), imageBytes());
            lb[i] = labels[keep.get(i)];
        }
        return new Dataset(name + "[" + fraction + "]", px, lb, keep.size(), channels, height, width, classes, classNames);
    }
}
