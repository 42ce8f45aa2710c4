package dev.tessera.vit.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The CIFAR-10 binary format: records of 1 label byte and 3072 pixel bytes (32x32 red, then green, then blue planes,
 * row-major), in data_batch_1..5.bin and test_batch.bin; class names from batches.meta.txt when present.
 */
public final class CifarReader {
    static final int RECORD = 1 + 3 * 32 * 32;
    static final String[] DEFAULT_NAMES = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

    private CifarReader() {}

    /** Train (data_batch_1..5) and test (test_batch) splits from a directory such as cifar-10-batches-bin. */
    public static FashionMnist.Splits load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + ": no such directory (expected cifar-10-batches-bin)");
        String[] names = DEFAULT_NAMES;
        Path meta = dir.resolve("batches.meta.txt");
        if (Files.isRegularFile(meta)) {
            List<String> l = new ArrayList<>();
            for (String s : Files.readAllLines(meta)) if (!s.isBlank()) l.add(s.trim());
            if (l.size() == 10) names = l.toArray(String[]::new);
        }
        List<Path> train = new ArrayList<>();
        for (int i = 1; i <= 5; i++) train.add(dir.resolve("data_batch_" + i + ".bin"));
        return new FashionMnist.Splits(read("cifar10/train", train, names), read("cifar10/test", List.of(dir.resolve("test_batch.bin")), names), dir);
    }

    public static Dataset read(String name, List<Path> files, String[] classNames) throws IOException {
        long total = 0;
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new IOException(f + ": missing CIFAR-10 batch file");
            long size = Files.size(f);
            if (size == 0 || size % RECORD != 0) throw new IOException(f + ": " + size + " bytes is not a whole number of " + RECORD + "-byte CIFAR-10 records");
            total += size / RECORD;
        }
        if (total > Integer.MAX_VALUE / (RECORD - 1)) throw new IOException(name + ": " + total + " records is too many to load");
        int n = (int) total, at = 0;
        byte[] px = new byte[n * (RECORD - 1)];
        int[] labels = new int[n];
        for (Path f : files) {
            byte[] all = Files.readAllBytes(f);
            for (int r = 0; r < all.length / RECORD; r++, at++) {
                int label = all[r * RECORD] & 0xff;
                if (label >= 10) throw new IOException(f + ": record " + r + " has label " + label + ", not below 10");
                labels[at] = label;
                System.arraycopy(all, r * RECORD + 1, px, at * (RECORD - 1), RECORD - 1);
            }
        }
        return new Dataset(name, px, labels, n, 3, 32, 32, 10, classNames);
    }
}
