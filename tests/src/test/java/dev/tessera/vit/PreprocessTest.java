package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.image.ImageLoader;
import dev.tessera.vit.image.PilResize;
import dev.tessera.vit.image.Preprocess;
import dev.tessera.vit.io.Json;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import net.jqwik.api.*;
import org.junit.jupiter.api.Test;

/** Decoding and resizing against Pillow's own output (fixtures from bench/scripts/make_vit_fixtures.py). */
class PreprocessTest {
    static Path images() {
        return PretrainedImportTest.fixture("images/cases.json").getParent();
    }

    static byte[] rgbOf(String file) throws IOException {
        return Preprocess.rgb(ImageLoader.read(images().resolve(file)));
    }

    /** Fraction of bytes within 1 of the reference, and the largest difference. */
    static double[] agreement(byte[] ref, byte[] got) {
        assertEquals(ref.length, got.length);
        int ok = 0, max = 0;
        for (int i = 0; i < ref.length; i++) {
            int d = Math.abs((ref[i] & 0xff) - (got[i] & 0xff));
            if (d <= 1) ok++;
            max = Math.max(max, d);
        }
        return new double[] {(double) ok / ref.length, max};
    }

    @Test
    void decodingMatchesPilsConvertRgb() throws IOException {
        // PNG (RGB, grey, RGBA), GIF (palette) and BMP decode exactly; JPEG decoders may differ by a level here and there.
        for (String f : List.of("rgb.png", "grey.png", "grey16.png", "rgba.png", "palette.gif", "rgb.bmp", "photo.jpg")) {
            double[] a = agreement(rgbOf(f + ".rgb.png"), rgbOf(f));
            if (f.endsWith(".jpg")) assertTrue(a[0] >= 0.99, f + ": only " + a[0] + " of the bytes within 1/255 of PIL's");
            else assertEquals(0.0, a[1], f + ": max difference from PIL's convert('RGB')");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void resizeMatchesPillowOnEveryCase() throws IOException {
        List<Object> cases = (List<Object>) Json.parse(Files.readString(images().resolve("cases.json")));
        assertTrue(cases.size() >= 10);
        for (Object o : cases) {
            Map<String, Object> c = (Map<String, Object>) o;
            BufferedImage src = ImageLoader.read(images().resolve((String) c.get("source")));
            int w = ((Number) c.get("width")).intValue(), h = ((Number) c.get("height")).intValue();
            PilResize.Filter filter = PilResize.Filter.valueOf(((String) c.get("filter")).toUpperCase());
            byte[] got = PilResize.resize(Preprocess.rgb(src), src.getWidth(), src.getHeight(), 3, w, h, filter);
            double[] a = agreement(rgbOf((String) c.get("expected")), got);
            assertTrue(a[0] >= 0.99, c + ": only " + a[0] + " within 1/255");
            assertTrue(a[1] <= 1, c + ": a byte differs by " + a[1]);
        }
    }

    @Test
    void presetsResizeTheShorterSideThenCropTheCentre() {
        // A 40 x 20 image, grey level = column: after timm's preset at 8 (resize short side to 8 -> 16 x 8, crop 8 x 8
        // from column 4), the crop's left column is the resized image's column 4.
        byte[] rgb = new byte[40 * 20 * 3];
        for (int y = 0; y < 20; y++) for (int x = 0; x < 40; x++) for (int c = 0; c < 3; c++) rgb[(y * 40 + x) * 3 + c] = (byte) (x * 6);
        Preprocess p = Preprocess.timm(8);
        assertEquals(8, p.resize());
        float[] out = p.apply(rgb, 40, 20, 3);
        assertEquals(3 * 8 * 8, out.length);
        byte[] resized = PilResize.resize(rgb, 40, 20, 3, 16, 8, PilResize.Filter.BICUBIC);
        for (int y = 0; y < 8; y++) {
            assertEquals(((resized[(y * 16 + 4) * 3] & 0xff) / 255f - 0.5f) / 0.5f, out[y * 8], 1e-6f);
        }
        Preprocess tv = Preprocess.torchvision(224);
        assertEquals(256, tv.resize());
        assertEquals(248, Preprocess.timm(224).resize());
        assertTrue(Preprocess.hf(224).squash());
    }

    @Test
    void extremeAspectRatiosAreRefusedNotResizedIntoTheHeap() {
        byte[] strip = new byte[1 * 20000 * 3];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Preprocess.torchvision(224).apply(strip, 1, 20000, 3));
        assertTrue(e.getMessage().contains("1x20000"), e.getMessage());
    }

    @Property(tries = 60)
    void resizingAConstantImageKeepsItConstant(@ForAll("sizes") int w, @ForAll("sizes") int h, @ForAll("sizes") int nw,
                                               @ForAll("sizes") int nh, @ForAll boolean cubic, @ForAll("levels") int level) {
        byte[] src = new byte[w * h * 3];
        java.util.Arrays.fill(src, (byte) level);
        byte[] out = PilResize.resize(src, w, h, 3, nw, nh, cubic ? PilResize.Filter.BICUBIC : PilResize.Filter.BILINEAR);
        for (byte b : out) assertEquals(level, b & 0xff);
    }

    @Provide
    Arbitrary<Integer> sizes() { return Arbitraries.of(1, 2, 3, 7, 15, 16, 17, 33, 64); }

    @Provide
    Arbitrary<Integer> levels() { return Arbitraries.of(0, 1, 127, 254, 255); }
}
