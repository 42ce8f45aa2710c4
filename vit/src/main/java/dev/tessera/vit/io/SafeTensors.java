package dev.tessera.vit.io;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping names to dtype, shape and
 * data_offsets (relative to the end of the header), an optional {@code __metadata__} string map, then the raw
 * little-endian data. Reading maps the file and checks every offset against the file size and for overlap.
 */
public final class SafeTensors {
    /** Headers above this are refused before any allocation: real ones are kilobytes. */
    static final long MAX_HEADER = 100L << 20;

    private SafeTensors() {}

    /** One F32 tensor to write: its shape and a segment of exactly numel floats (any arena). */
    public record Entry(int[] shape, MemorySegment data) {}

    /** A tensor as found in a file. */
    public record Info(String name, String dtype, int[] shape, long begin, long end) {}

    /** Writes the tensors (F32) in order, with string metadata. Not atomic by itself: write to a temp path and move. */
    public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
        write(file, tensors, metadata, "F32");
    }

    /**
     * As above, stored as {@code dtype}: F32, F16 (IEEE half, round to nearest even) or BF16 (the upper half of the
     * float, rounded to nearest even; NaN stays NaN).
     */
    public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata, String dtype) throws IOException {
        int width = switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new IllegalArgumentException("cannot write dtype " + dtype + "; supported: F32, F16, BF16");
        };
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
        long off = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            long bytes = e.getValue().data().byteSize();
            long numel = 1;
            for (int d : e.getValue().shape()) numel *= d;
            if (numel * 4 != bytes) throw new IllegalArgumentException("tensor '" + e.getKey() + "': " + bytes + " bytes for shape " + java.util.Arrays.toString(e.getValue().shape()));
            long stored = numel * width;
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("dtype", dtype);
            t.put("shape", e.getValue().shape());
            t.put("data_offsets", new long[] {off, off + stored});
            header.put(e.getKey(), t);
            off += stored;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int pad = (int) ((8 - json.length % 8) % 8); // keeps the data 8-byte aligned, as the reference writer does
        byte[] padded = java.util.Arrays.copyOf(json, json.length + pad);
        for (int k = json.length; k < padded.length; k++) padded[k] = ' ';
        try (OutputStream out = Files.newOutputStream(file)) {
            byte[] len = new byte[8];
            long n = padded.length;
            for (int k = 0; k < 8; k++) len[k] = (byte) (n >>> (8 * k));
            out.write(len);
            out.write(padded);
            byte[] buf = new byte[1 << 16];
            float[] floats = width == 4 ? null : new float[buf.length / 2];
            boolean half = dtype.equals("F16");
            for (Entry e : tensors.values()) {
                MemorySegment src = e.data();
                if (width == 4) {
                    for (long p = 0; p < src.byteSize(); p += buf.length) {
                        int chunk = (int) Math.min(buf.length, src.byteSize() - p);
                        MemorySegment.copy(src, ValueLayout.JAVA_BYTE, p, buf, 0, chunk);
                        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) swap4(buf, chunk);
                        out.write(buf, 0, chunk);
                    }
                    continue;
                }
                // Bulk copies out of src, as readInto does: a tensor may be a view of a mapped checkpoint.
                long count = src.byteSize() / 4;
                for (long i = 0; i < count; i += floats.length) {
                    int part = (int) Math.min(floats.length, count - i);
                    MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, floats, 0, part);
                    for (int j = 0; j < part; j++) {
                        short h = half ? Float.floatToFloat16(floats[j]) : bf16(floats[j]);
                        buf[2 * j] = (byte) h;
                        buf[2 * j + 1] = (byte) (h >>> 8);
                    }
                    out.write(buf, 0, 2 * part);
                }
            }
        }
    }

    /** float -> bfloat16, rounding to nearest even; NaN kept quiet. */
    static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    private static void swap4(byte[] b, int n) {
        for (int k = 0; k + 3 < n; k += 4) {
            byte t = b[k]; b[k] = b[k + 3]; b[k + 3] = t;
            t = b[k + 1]; b[k + 1] = b[k + 2]; b[k + 2] = t;
        }
    }

    /** An open, mapped safetensors file. */
    public static final class File implements AutoCloseable {
        private final Path path;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment mapped;
        private final long dataStart;
        private final Map<String, Info> infos = new LinkedHashMap<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();

        File(Path path) throws IOException {
            this.path = path;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 8) throw new IOException(path + ": " + size + " bytes is too short for a safetensors file");
                mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException e) {
                arena.close();
                throw e;
            }
            try {
                long hlen = mapped.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
                if (hlen < 2 || hlen > MAX_HEADER || 8 + hlen > mapped.byteSize()) {
                    throw new IOException(path + ": header length " + hlen + " does not fit a file of " + mapped.byteSize() + " bytes");
                }
                dataStart = 8 + hlen;
                byte[] hb = new byte[(int) hlen];
                MemorySegment.copy(mapped, ValueLayout.JAVA_BYTE, 8, hb, 0, hb.length);
                Object parsed;
                try {
                    parsed = Json.parse(new String(hb, StandardCharsets.UTF_8));
                } catch (IllegalArgumentException e) {
                    throw new IOException(path + ": corrupt header: " + e.getMessage());
                }
                if (!(parsed instanceof Map<?, ?> header)) throw new IOException(path + ": header is not a JSON object");
                long dataSize = mapped.byteSize() - dataStart;
                List<Info> ordered = new ArrayList<>();
                for (Map.Entry<?, ?> e : header.entrySet()) {
                    String name = (String) e.getKey();
                    if (name.equals("__metadata__")) {
                        if (e.getValue() instanceof Map<?, ?> m) for (Map.Entry<?, ?> me : m.entrySet()) metadata.put(String.valueOf(me.getKey()), String.valueOf(me.getValue()));
                        continue;
                    }
                    ordered.add(info(name, e.getValue(), dataSize));
                }
                ordered.sort((a, b) -> Long.compare(a.begin(), b.begin()));
                for (int k = 1; k < ordered.size(); k++) {
                    if (ordered.get(k).begin() < ordered.get(k - 1).end()) {
                        throw new IOException(path + ": tensors '" + ordered.get(k - 1).name() + "' and '" + ordered.get(k).name() + "' overlap");
                    }
                }
                for (Info inf : ordered) infos.put(inf.name(), inf);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e instanceof IOException io ? io : new IOException(path + ": " + e.getMessage(), e);
            }
        }

        private Info info(String name, Object v, long dataSize) throws IOException {
            if (!(v instanceof Map<?, ?> m)) throw new IOException(path + ": entry '" + name + "' is not an object");
            Object dtype = m.get("dtype"), shape = m.get("shape"), offs = m.get("data_offsets");
            if (!(dtype instanceof String dt)) throw new IOException(path + ": tensor '" + name + "' has no dtype");
            int width = switch (dt) {
                case "F32" -> 4;
                case "F16", "BF16" -> 2;
                default -> throw new IOException(path + ": tensor '" + name + "' has dtype " + dt + "; supported: F32, F16, BF16");
            };
            if (!(shape instanceof List<?> sl)) throw new IOException(path + ": tensor '" + name + "' has no shape");
            int[] dims = new int[sl.size()];
            long numel = 1;
            for (int k = 0; k < dims.length; k++) {
                if (!(sl.get(k) instanceof Long d) || d < 0 || d > Integer.MAX_VALUE) throw new IOException(path + ": tensor '" + name + "' has a bad dimension " + sl.get(k));
                dims[k] = (int) (long) d;
                numel = Math.multiplyExact(numel, dims[k]);
            }
            if (!(offs instanceof List<?> ol) || ol.size() != 2 || !(ol.get(0) instanceof Long b) || !(ol.get(1) instanceof Long e)) {
                throw new IOException(path + ": tensor '" + name + "' has bad data_offsets " + offs);
            }
            if (b < 0 || e < b || e > dataSize) throw new IOException(path + ": tensor '" + name + "' data [" + b + ", " + e + ") outside the " + dataSize + " data bytes");
            if (e - b != numel * width) throw new IOException(path + ": tensor '" + name + "' holds " + (e - b) + " bytes, shape needs " + numel * width);
            return new Info(name, dt, dims, b, e);
        }

        public Map<String, Info> tensors() { return infos; }

        public Map<String, String> metadata() { return metadata; }

        public Path path() { return path; }

        /** The raw bytes of a tensor, mapped (no copy). */
        public MemorySegment bytes(String name) throws IOException {
            Info inf = infos.get(name);
            if (inf == null) throw new IOException(path + ": no tensor '" + name + "'");
            return mapped.asSlice(dataStart + inf.begin(), inf.end() - inf.begin());
        }

        /** Copies tensor {@code name} into dst (F32, or F16/BF16 converted), checking the shape. */
        public void readInto(String name, int[] expectShape, MemorySegment dst, long dstOffFloats) throws IOException {
            Info inf = infos.get(name);
            if (inf == null) throw new IOException(path + ": missing tensor '" + name + "'");
            if (!java.util.Arrays.equals(inf.shape(), expectShape)) {
                throw new IOException(path + ": tensor '" + name + "' has shape " + java.util.Arrays.toString(inf.shape()) + ", expected " + java.util.Arrays.toString(expectShape));
            }
            MemorySegment src = bytes(name);
            long n = (inf.end() - inf.begin()) / (inf.dtype().equals("F32") ? 4 : 2);
            ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            ValueLayout.OfShort f16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            if (inf.dtype().equals("F32")) {
                // One bulk copy: read element by element through the segment accessors that the kernels' own code
                // shares, a mapped file made later kernels slower: ViT-B/16 ran 512-607 ms a forward in JVMs that
                // had read a 0.3 M-float input this way, 419-483 after a bulk copy (README, "Vector API rules").
                MemorySegment.copy(src, f32, 0, dst, ValueLayout.JAVA_FLOAT, dstOffFloats * 4, n);
                return;
            }
            // F16 and BF16 likewise: bulk copies of the raw halves to the heap, converted there, then bulk copies out.
            boolean half = inf.dtype().equals("F16");
            int chunk = (int) Math.min(n, 1 << 14);
            short[] raw = new short[chunk];
            float[] out = new float[chunk];
            for (long k = 0; k < n; k += chunk) {
                int len = (int) Math.min(chunk, n - k);
                MemorySegment.copy(src, f16, k * 2, raw, 0, len);
                for (int i = 0; i < len; i++) out[i] = half ? Float.float16ToFloat(raw[i]) : Float.intBitsToFloat((raw[i] & 0xffff) << 16);
                MemorySegment.copy(out, 0, dst, ValueLayout.JAVA_FLOAT, (dstOffFloats + k) * 4, len);
            }
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    public static File open(Path path) throws IOException {
        return new File(path);
    }
}
