package dev.tessera.vit.data;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds Fashion-MNIST, in this order: an explicit directory, $TESSERA_DATA, ~/.cache/tessera, Debian's
 * dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), then a download from the official mirror into the cache.
 * A directory counts only when all four files parse with the right shapes (60000/10000 images of 28x28).
 */
public final class FashionMnist {
    /** Pixel mean and standard deviation over the training split, in [0, 1]: the normalisation training uses. */
    public static final float MEAN = 0.2860f, STD = 0.3530f;

    public static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    static final String[] FILES = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    static final String MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
    public static final Path DEBIAN = Path.of("/usr/share/datasets/fashion-mnist");

    private FashionMnist() {}

    /** Train and test splits. */
    public record Splits(Dataset train, Dataset test, Path dir) {}

    public static Splits load(Path explicit) throws IOException {
        List<String> tried = new ArrayList<>();
        for (Path dir : candidates(explicit)) {
            String why = check(dir);
            if (why == null) return read(dir);
            tried.add(dir + ": " + why);
            // The search goes on, as the order above says, but a directory the user named should not be passed over
            // in silence: a typo would otherwise train on whatever copy is found next.
            if (dir.equals(explicit)) {
                System.getLogger(FashionMnist.class.getName()).log(System.Logger.Level.WARNING,
                        "--data " + dir + ": " + why + "; looking in the other places ($TESSERA_DATA, ~/.cache/tessera, " + DEBIAN + ", download)");
            }
        }
        Path cache = cacheDir();
        if (Boolean.getBoolean("tessera.offline")) {
            tried.add("download: skipped (-Dtessera.offline=true)");
        } else try {
            download(cache);
            String why = check(cache);
            if (why == null) return read(cache);
            tried.add("download into " + cache + ": " + why);
        } catch (IOException e) {
            tried.add("download from " + MIRROR + ": " + e.getMessage());
        }
        throw new IOException("Fashion-MNIST not found. Tried:\n  " + String.join("\n  ", tried)
                + "\nInstall it with 'apt-get install dataset-fashion-mnist', or pass --data DIR holding the four IDX files (.gz or plain).");
    }

    static List<Path> candidates(Path explicit) {
        List<Path> out = new ArrayList<>();
        if (explicit != null) out.add(explicit);
        String env = System.getenv("TESSERA_DATA");
        if (env != null && !env.isBlank()) out.add(Path.of(env));
        out.add(cacheDir());
        out.add(DEBIAN);
        return out;
    }

    static Path cacheDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "tessera");
    }

    /** The file for one of the four names, gzipped or plain, or null. */
    static Path file(Path dir, String name) {
        Path gz = dir.resolve(name + ".gz"), plain = dir.resolve(name);
        if (Files.isRegularFile(gz)) return gz;
        if (Files.isRegularFile(plain)) return plain;
        return null;
    }

    /** Null when dir holds a valid copy, else why not. */
    static String check(Path dir) {
        if (!Files.isDirectory(dir)) return "no such directory";
        for (String f : FILES) if (file(dir, f) == null) return "missing " + f + "(.gz)";
        try {
            Splits s = read(dir);
            if (s.train().count() != 60000 || s.test().count() != 10000) return "expected 60000 + 10000 images, found " + s.train().count() + " + " + s.test().count();
            if (s.train().height() != 28 || s.train().width() != 28) return "expected 28x28 images, found " + s.train().height() + "x" + s.train().width();
            return null;
        } catch (IOException | IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    private static Splits read(Path dir) throws IOException {
        Dataset train = IdxReader.dataset("fashion-mnist/train", file(dir, FILES[0]), file(dir, FILES[1]), 10, CLASSES);
        Dataset test = IdxReader.dataset("fashion-mnist/test", file(dir, FILES[2]), file(dir, FILES[3]), 10, CLASSES);
        return new Splits(train, test, dir);
    }

    private static void download(Path dir) throws IOException {
        Files.createDirectories(dir);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).followRedirects(HttpClient.Redirect.NORMAL).build();
        for (String f : FILES) {
            Path target = dir.resolve(f + ".gz");
            if (Files.isRegularFile(target)) continue;
            Path tmp = dir.resolve(f + ".gz.part");
            HttpRequest req = HttpRequest.newBuilder(URI.create(MIRROR + f + ".gz")).timeout(Duration.ofSeconds(60)).build();
            try {
                HttpResponse<InputStream> resp = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
                if (resp.statusCode() != 200) throw new IOException("HTTP " + resp.statusCode() + " for " + f);
                try (InputStream in = resp.body()) {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                }
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while downloading " + f);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }
}
