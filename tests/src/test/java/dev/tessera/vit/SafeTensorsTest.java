package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.io.SafeTensors;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import net.jqwik.api.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
    @TempDir Path dir;

    static Path sample(Path dir) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(6 * 4), y = a.allocate(4);
            for (int i = 0; i < 6; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f);
            y.setAtIndex(ValueLayout.JAVA_FLOAT, 0, -3f);
            Map<String, SafeTensors.Entry> m = new LinkedHashMap<>();
            m.put("x", new SafeTensors.Entry(new int[] {2, 3}, x));
            m.put("y", new SafeTensors.Entry(new int[] {1}, y));
            Path p = dir.resolve("t.safetensors");
            SafeTensors.write(p, m, Map.of("k", "v"));
            return p;
        }
    }

    @Test
    void roundTrip() throws IOException {
        Path p = sample(dir);
        try (SafeTensors.File f = SafeTensors.open(p); Arena a = Arena.ofConfined()) {
            assertEquals("v", f.metadata().get("k"));
            assertArrayEquals(new int[] {2, 3}, f.tensors().get("x").shape());
            MemorySegment out = a.allocate(24);
            f.readInto("x", new int[] {2, 3}, out, 0);
            assertEquals(2.5f, out.getAtIndex(ValueLayout.JAVA_FLOAT, 5));
            IOException e = assertThrows(IOException.class, () -> f.readInto("x", new int[] {3, 2}, out, 0));
            assertTrue(e.getMessage().contains("'x'") && e.getMessage().contains("[2, 3]"), e.getMessage());
            e = assertThrows(IOException.class, () -> f.readInto("z", new int[] {1}, out, 0));
            assertTrue(e.getMessage().contains("missing tensor 'z'"), e.getMessage());
        }
    }

    static Path withHeader(Path dir, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve("h" + header.hashCode() + ".safetensors");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void badFilesNameTheProblem() throws IOException {
        assertMessage(withHeader(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlap");
        assertMessage(withHeader(dir, "{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "dtype I8");
        assertMessage(withHeader(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "outside");
        assertMessage(withHeader(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "shape needs");
        assertMessage(withHeader(dir, "{\"a\":", 0), "corrupt header");
        Path huge = dir.resolve("huge.safetensors");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        assertMessage(huge, "header length");
    }

    private static void assertMessage(Path p, String part) {
        IOException e = assertThrows(IOException.class, () -> SafeTensors.open(p).close());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Property(tries = 200)
    void mutatedFilesNeverCrashTheReader(@ForAll("mutations") int[] m) throws IOException {
        Path dirp = Files.createTempDirectory("st");
        try {
            byte[] good = Files.readAllBytes(sample(dirp));
            byte[] bad = java.util.Arrays.copyOf(good, Math.max(0, good.length - m[0]));
            for (int k = 1; k + 1 < m.length; k += 2) if (bad.length > 0) bad[Math.floorMod(m[k], bad.length)] ^= (byte) m[k + 1];
            Path p = dirp.resolve("m.safetensors");
            Files.write(p, bad);
            try (SafeTensors.File f = SafeTensors.open(p); Arena a = Arena.ofConfined()) {
                for (SafeTensors.Info inf : f.tensors().values()) {
                    long n = 1;
                    for (int d : inf.shape()) n *= d;
                    if (n < 1_000_000) f.readInto(inf.name(), inf.shape(), a.allocate(Math.max(4, n * 4)), 0);
                }
            } catch (IOException expected) {
                // a clear refusal is the right answer
            }
        } finally {
            try (var s = Files.walk(dirp)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(q -> q.toFile().delete());
            }
        }
    }

    @Provide
    Arbitrary<int[]> mutations() {
        return Arbitraries.integers().between(0, 400).array(int[].class).ofMinSize(1).ofMaxSize(7);
    }

    @Test
    void halfPrecisionRoundTrips() throws IOException {
        float[] v = {0f, -0f, 1f, -2.5f, 3.14159265f, 65504f, 1e-8f, 1e20f, Float.NaN, Float.NEGATIVE_INFINITY, 0.1f};
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(v.length * 4L);
            for (int i = 0; i < v.length; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, v[i]);
            for (String dt : new String[] {"F16", "BF16"}) {
                Path p = dir.resolve(dt + ".safetensors");
                SafeTensors.write(p, Map.of("x", new SafeTensors.Entry(new int[] {v.length}, x)), Map.of(), dt);
                try (SafeTensors.File f = SafeTensors.open(p)) {
                    assertEquals(dt, f.tensors().get("x").dtype());
                    MemorySegment y = a.allocate(v.length * 4L);
                    f.readInto("x", new int[] {v.length}, y, 0);
                    for (int i = 0; i < v.length; i++) {
                        float got = y.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                        float want = dt.equals("F16") ? Float.float16ToFloat(Float.floatToFloat16(v[i])) : Float.intBitsToFloat((Float.floatToIntBits(v[i]) + 0x7fff + ((Float.floatToIntBits(v[i]) >>> 16) & 1)) & 0xffff0000);
                        if (Float.isNaN(v[i])) assertTrue(Float.isNaN(got), dt + " NaN");
                        else assertEquals(want, got, dt + " " + v[i]);
                        if (!Float.isNaN(v[i]) && !Float.isInfinite(v[i]) && Math.abs(v[i]) > 1e-4 && Math.abs(v[i]) < 6e4) {
                            assertEquals(v[i], got, Math.abs(v[i]) * (dt.equals("F16") ? 1e-3 : 8e-3), dt + " relative error of " + v[i]);
                        }
                    }
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(dir.resolve("q.safetensors"), Map.of(), Map.of(), "I8"));
    }
}
