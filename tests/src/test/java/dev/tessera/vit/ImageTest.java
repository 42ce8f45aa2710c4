package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.image.ImageLoader;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageTest {
    @TempDir Path dir;

    @Test
    void decodesResizesAndConvertsToGrey() throws IOException {
        BufferedImage img = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) img.setRGB(x, y, x < 2 ? 0xffffff : 0x000000);
        Path f = dir.resolve("a.png");
        ImageIO.write(img, "png", f.toFile());
        byte[] grey = ImageLoader.toPlanar(ImageLoader.read(f), 1, 2, 2);
        assertEquals(255, grey[0] & 0xff);
        assertEquals(0, grey[1] & 0xff);
        byte[] rgb = ImageLoader.toPlanar(ImageLoader.read(f), 3, 4, 4);
        assertEquals(3 * 16, rgb.length);
        assertEquals(255, rgb[16] & 0xff); // green plane, pixel (0, 0)
    }

    @Test
    void badFilesAreRefusedWithTheirName() throws IOException {
        Path text = dir.resolve("x.png");
        Files.writeString(text, "not an image");
        IOException e = assertThrows(IOException.class, () -> ImageLoader.read(text));
        assertTrue(e.getMessage().contains("x.png"), e.getMessage());
        // A PNG header declaring 100000 x 100000 pixels: refused from the header, before any allocation.
        ByteBuffer png = ByteBuffer.allocate(33);
        png.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}).putInt(13).put("IHDR".getBytes()).putInt(100000).putInt(100000)
                .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0).putInt(0);
        Path bomb = dir.resolve("bomb.png");
        Files.write(bomb, png.array());
        e = assertThrows(IOException.class, () -> ImageLoader.read(bomb));
        assertTrue(e.getMessage().contains("bomb.png"), e.getMessage());
        assertThrows(IOException.class, () -> ImageLoader.read(dir.resolve("missing.png")));
    }
}
