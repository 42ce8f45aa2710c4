package dev.tessera.vit.data;

import dev.tessera.vit.image.ImageLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Your own images: one subfolder per class (sorted by name), PNG/JPEG/BMP/GIF files inside, each decoded with
 * javax.imageio and resized to the model's input. Hidden files are skipped; any other unreadable file is an error that
 * names it.
 */
public final class ImageFolder {
    private ImageFolder() {}

    public static Dataset load(Path root, int channels, int height, int width) throws IOException {
        if (!Files.isDirectory(root)) throw new IOException(root + ": no such directory");
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(root)) {
            classDirs = s.filter(Files::isDirectory).filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
        }
        if (classDirs.isEmpty()) throw new IOException(root + ": no class subfolders (expected ROOT/<class>/<image>)");
        List<byte[]> images = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        String[] names = new String[classDirs.size()];
        for (int c = 0; c < classDirs.size(); c++) {
            names[c] = classDirs.get(c).getFileName().toString();
            List<Path> files;
            try (Stream<Path> s = Files.list(classDirs.get(c))) {
                files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
            }
            for (Path f : files) {
                String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
                if (!(n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".bmp") || n.endsWith(".gif"))) {
                    throw new IOException(f + ": not a PNG, JPEG, BMP or GIF file");
                }
                images.add(ImageLoader.toPlanar(ImageLoader.read(f), channels, height, width));
                labels.add(c);
            }
        }
        if (images.isEmpty()) throw new IOException(root + ": the class folders hold no images");
        int px = channels * height * width;
        byte[] all = new byte[images.size() * px];
        int[] y = new int[images.size()];
        for (int i = 0; i < images.size(); i++) {
            System.arraycopy(images.get(i), 0, all, i * px, px);
            y[i] = labels.get(i);
        }
        return new Dataset(root.getFileName().toString(), all, y, y.length, channels, height, width, names.length, names);
    }
}
