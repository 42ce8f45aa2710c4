package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.data.Augment;
import dev.tessera.vit.data.Batch;
import dev.tessera.vit.data.BatchLoader;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.data.IdxReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
    @TempDir Path dir;

    static byte[] idx(int type, int... dims) {
        long n = 1;
        for (int d : dims) n *= d;
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + (int) n);
        b.putInt((type << 8) | dims.length);
        for (int d : dims) b.putInt(d);
        for (int i = 0; i < n; i++) b.put((byte) (i % 10));
        return b.array();
    }

    static void write(Path p, byte[] data, boolean gz) throws IOException {
        try (OutputStream o = gz ? new GZIPOutputStream(Files.newOutputStream(p)) : Files.newOutputStream(p)) {
            o.write(data);
        }
    }

    @Test
    void readsPlainAndGzippedIdx() throws IOException {
        write(dir.resolve("a"), idx(8, 3, 2, 2), false);
        write(dir.resolve("b.gz"), idx(8, 3, 2, 2), true);
        IdxReader.Idx a = IdxReader.read(dir.resolve("a")), b = IdxReader.read(dir.resolve("b.gz"));
        assertArrayEquals(new int[] {3, 2, 2}, a.dims());
        assertArrayEquals(a.data(), b.data());
    }

    @Test
    void corruptIdxFilesGetClearErrors() throws IOException {
        byte[] good = idx(8, 3, 2, 2);
        write(dir.resolve("trunc"), java.util.Arrays.copyOf(good, good.length - 3), false);
        IOException e = assertThrows(IOException.class, () -> IdxReader.read(dir.resolve("trunc")));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        write(dir.resolve("type"), idx(0x0d, 3), false);
        e = assertThrows(IOException.class, () -> IdxReader.read(dir.resolve("type")));
        assertTrue(e.getMessage().contains("unsigned byte"), e.getMessage());
        write(dir.resolve("magic"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, false);
        e = assertThrows(IOException.class, () -> IdxReader.read(dir.resolve("magic")));
        assertTrue(e.getMessage().contains("not an IDX"), e.getMessage());
        ByteBuffer huge = ByteBuffer.allocate(16).putInt(0x0803).putInt(1 << 20).putInt(1 << 12).putInt(1 << 12);
        write(dir.resolve("huge"), huge.array(), false);
        e = assertThrows(IOException.class, () -> IdxReader.read(dir.resolve("huge")));
        assertTrue(e.getMessage().contains("elements"), e.getMessage());
        e = assertThrows(IOException.class, () -> IdxReader.read(dir.resolve("missing")));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void missingFashionMnistListsEveryPlaceTried() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        if (FashionMnist.DEBIAN.toFile().isDirectory()) return; // this machine has it: the failure path cannot be reached
        IOException e = assertThrows(IOException.class, () -> FashionMnist.load(empty));
        assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("apt-get install dataset-fashion-mnist"), e.getMessage());
    }

    @Test
    void explicitDirectoryWithWrongSizesIsRejectedNotUsed() throws IOException {
        Path bad = Files.createDirectories(dir.resolve("bad"));
        write(bad.resolve("train-images-idx3-ubyte"), idx(8, 5, 28, 28), false);
        write(bad.resolve("train-labels-idx1-ubyte"), idx(8, 5), false);
        write(bad.resolve("t10k-images-idx3-ubyte"), idx(8, 5, 28, 28), false);
        write(bad.resolve("t10k-labels-idx1-ubyte"), idx(8, 5), false);
        try {
            FashionMnist.Splits s = FashionMnist.load(bad);
            assertNotEquals(bad, s.dir(), "a 5-image directory must not pass as Fashion-MNIST");
        } catch (IOException e) {
            assertTrue(e.getMessage().contains("60000"), e.getMessage());
        }
    }

    static Dataset tiny(int n) {
        byte[] px = new byte[n * 4 * 4];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 3;
            for (int k = 0; k < 16; k++) px[i * 16 + k] = (byte) (i * 16 + k);
        }
        return new Dataset("tiny", px, y, n, 1, 4, 4, 3, null);
    }

    @Test
    void loaderIsDeterministicAndCoversEveryImageOncePerEpoch() throws InterruptedException {
        Dataset d = tiny(10);
        List<Augment> aug = List.of(Augment.randomCrop(1, 0f), Augment.horizontalFlip());
        float[][] first = new float[3][];
        int[] seen = new int[10];
        try (BatchLoader l = new BatchLoader(d, 3, true, true, 42, 1, 0f, 1f, aug)) {
            assertEquals(3, l.batches());
            for (Batch b; (b = l.next()) != null; ) first[b.index()] = b.images();
        }
        try (BatchLoader l = new BatchLoader(d, 3, true, true, 42, 1, 0f, 1f, aug)) {
            for (Batch b; (b = l.next()) != null; ) assertArrayEquals(first[b.index()], b.images(), "batch " + b.index());
        }
        try (BatchLoader l = new BatchLoader(d, 4, false, false, 0, 0, 0f, 1f, List.of())) {
            for (Batch b; (b = l.next()) != null; ) {
                for (int i = 0; i < b.size(); i++) seen[b.index() * 4 + i]++;
                assertEquals(d.labels()[b.index() * 4], b.labels()[0]);
            }
        }
        for (int s : seen) assertEquals(1, s);
    }

    @Test
    void cropShiftsAndFlipMirrors() {
        float[] img = new float[16], scratch = new float[16];
        for (int i = 0; i < 16; i++) img[i] = i + 1;
        // A generator whose first draws we know: find a seed that shifts, then check the shift is a translation.
        Augment crop = Augment.randomCrop(1, 0f);
        for (long seed = 0; seed < 50; seed++) {
            float[] x = img.clone();
            crop.apply(x, 1, 4, 4, scratch, new SplittableRandom(seed));
            SplittableRandom r = new SplittableRandom(seed);
            int dy = r.nextInt(3) - 1, dx = r.nextInt(3) - 1;
            for (int y = 0; y < 4; y++) for (int xx = 0; xx < 4; xx++) {
                int sy = y + dy, sx = xx + dx;
                float want = sy >= 0 && sy < 4 && sx >= 0 && sx < 4 ? img[sy * 4 + sx] : 0f;
                assertEquals(want, x[y * 4 + xx], "seed " + seed);
            }
        }
        float[] x = img.clone();
        for (long seed = 0; seed < 10; seed++) {
            x = img.clone();
            Augment.horizontalFlip().apply(x, 1, 4, 4, scratch, new SplittableRandom(seed));
            if (new SplittableRandom(seed).nextBoolean()) {
                assertEquals(img[3], x[0]);
                assertEquals(img[0], x[3]);
            } else {
                assertArrayEquals(img, x);
            }
        }
    }

    @Test
    void inceptionCropKeepsSizeAndStaysInsideTheImageRange() {
        float[] img = new float[16 * 16], scratch = new float[256];
        for (int i = 0; i < img.length; i++) img[i] = i;
        Augment crop = Augment.inceptionCrop(0.3f);
        boolean changed = false;
        for (long seed = 0; seed < 20; seed++) {
            float[] x = img.clone();
            crop.apply(x, 1, 16, 16, scratch, new SplittableRandom(seed));
            for (float v : x) assertTrue(v >= 0 && v <= 255, "value " + v);
            changed |= !java.util.Arrays.equals(x, img);
            // rows stay increasing left to right (a crop + resize of an increasing ramp)
            for (int y = 0; y < 16; y++) for (int xx = 1; xx < 16; xx++) assertTrue(x[y * 16 + xx] >= x[y * 16 + xx - 1] - 1e-3f);
        }
        assertTrue(changed);
    }
}
