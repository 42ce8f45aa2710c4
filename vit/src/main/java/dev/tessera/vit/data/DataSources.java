package dev.tessera.vit.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The datasets the CLI knows by name: fashion-mnist (the default, found as FashionMnist describes), cifar10 (the binary
 * batches in --data) and folder (--data holding train/ and test/, one subfolder per class).
 */
public final class DataSources {
    private DataSources() {}

    public static FashionMnist.Splits load(String dataset, Path data, int folderChannels, int folderSize) throws IOException {
        return switch (dataset.toLowerCase(Locale.ROOT)) {
            case "fashion-mnist", "fmnist" -> FashionMnist.load(data);
            case "cifar10", "cifar-10" -> {
                if (data == null) throw new IOException("--dataset cifar10 needs --data DIR holding data_batch_1..5.bin and test_batch.bin");
                yield CifarReader.load(data);
            }
            case "folder" -> {
                if (data == null) throw new IOException("--dataset folder needs --data DIR with train/ and test/, one subfolder per class in each");
                if (!Files.isDirectory(data.resolve("train")) || !Files.isDirectory(data.resolve("test"))) {
                    throw new IOException(data + ": expected subfolders train/ and test/, one subfolder per class in each");
                }
                Dataset train = ImageFolder.load(data.resolve("train"), folderChannels, folderSize, folderSize);
                Dataset test = ImageFolder.load(data.resolve("test"), folderChannels, folderSize, folderSize);
                if (!java.util.Arrays.equals(train.classNames(), test.classNames())) {
                    throw new IOException(data + ": train/ and test/ have different class folders");
                }
                yield new FashionMnist.Splits(train, test, data);
            }
            default -> throw new IOException("unknown dataset '" + dataset + "': use fashion-mnist, cifar10 or folder");
        };
    }

    /** Mean and standard deviation of all training pixels in [0, 1]: the normalisation the model trains with. */
    public static float[] pixelStats(Dataset d) {
        double s = 0, s2 = 0;
        byte[] px = d.pixels();
        for (byte b : px) {
            double v = (b & 0xff) / 255.0;
            s += v;
            s2 += v * v;
        }
        double mean = s / px.length, var = Math.max(1e-12, s2 / px.length - mean * mean);
        return new float[] {(float) mean, (float) Math.sqrt(var)};
    }
}
