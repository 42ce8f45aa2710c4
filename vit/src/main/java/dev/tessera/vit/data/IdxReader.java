package dev.tessera.vit.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * The IDX format of MNIST and Fashion-MNIST, gzipped or plain: a magic of two zero bytes, a type byte (0x08 unsigned
 * byte) and a rank byte, then the big-endian dimensions, then the data. Every size is checked against the file.
 */
public final class IdxReader {
    private static final int MAX_ELEMENTS = 1 << 30;

    private IdxReader() {}

    /** The dimensions and unsigned-byte data of one IDX file. */
    public record Idx(int[] dims, byte[] data) {}

    public static Idx read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": no such file");
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            raw.mark(2);
            int b0 = raw.read(), b1 = raw.read();
            raw.reset();
            InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new BufferedInputStream(new GZIPInputStream(raw, 1 << 16), 1 << 16) : raw;
            DataInputStream d = new DataInputStream(in);
            int magic;
            try {
                magic = d.readInt();
            } catch (EOFException e) {
                throw new IOException(file + ": truncated before the IDX header");
            }
            if ((magic >>> 16) != 0) throw new IOException(file + ": not an IDX file (magic 0x" + Integer.toHexString(magic) + ")");
            int type = (magic >>> 8) & 0xff, rank = magic & 0xff;
            if (type != 0x08) throw new IOException(file + ": IDX element type 0x" + Integer.toHexString(type) + " is not unsigned byte (0x08)");
            if (rank < 1 || rank > 4) throw new IOException(file + ": IDX rank " + rank + " outside 1..4");
            int[] dims = new int[rank];
            long n = 1;
            for (int i = 0; i < rank; i++) {
                dims[i] = d.readInt();
                if (dims[i] < 0) throw new IOException(file + ": negative dimension " + dims[i]);
                n *= dims[i];
                if (n > MAX_ELEMENTS) throw new IOException(file + ": " + n + "+ elements is more than an IDX reader should load");
            }
            byte[] data = new byte[(int) n];
            try {
                d.readFully(data);
            } catch (EOFException e) {
                throw new IOException(file + ": truncated: the header promises " + n + " bytes of data");
            }
            if (d.read() != -1) throw new IOException(file + ": trailing bytes after the " + n + " the header promises");
            return new Idx(dims, data);
        }
    }

    /** Images (N, H, W) and labels (N) files as one grey dataset. */
    public static Dataset dataset(String name, Path images, Path labels, int classes, String[] classNames) throws IOException {
        Idx im = read(images), lb = read(labels);
        if (im.dims().length != 3) throw new IOException(images + ": expected rank 3 (N, H, W), got rank " + im.dims().length);
        if (lb.dims().length != 1) throw new IOException(labels + ": expected rank 1 (N), got rank " + lb.dims().length);
        if (im.dims()[0] != lb.dims()[0]) throw new IOException(images + " has " + im.dims()[0] + " images but " + labels + " has " + lb.dims()[0] + " labels");
        int[] y = new int[lb.data().length];
        for (int i = 0; i < y.length; i++) {
            y[i] = lb.data()[i] & 0xff;
            if (y[i] >= classes) throw new IOException(labels + ": label " + y[i] + " at " + i + " is not below " + classes);
        }
        return new Dataset(name, im.data(), y, im.dims()[0], 1, im.dims()[1], im.dims()[2], classes, classNames);
    }
}
