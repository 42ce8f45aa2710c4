package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.data.CifarReader;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.data.ImageFolder;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadersTest {
    @TempDir Path dir;

    @Test
    void cifarRecordsAreLabelPlusPlanes() throws IOException {
        byte[] rec = new byte[2 * 3073];
        rec[0] = 7;
        rec[1] = 11;              // red (0, 0) of image 0
        rec[1 + 1024] = 22;       // green (0, 0)
        rec[3073] = 2;
        Path f = dir.resolve("b.bin");
        Files.write(f, rec);
        Dataset d = CifarReader.read("t", List.of(f), null);
        assertEquals(2, d.count());
        assertArrayEquals(new int[] {7, 2}, d.labels());
        assertEquals(11, d.pixels()[0]);
        assertEquals(22, d.pixels()[1024]);
        Files.write(f, new byte[3000]);
        IOException e = assertThrows(IOException.class, () -> CifarReader.read("t", List.of(f), null));
        assertTrue(e.getMessage().contains("3073"), e.getMessage());
        rec[0] = 12;
        Files.write(f, rec);
        e = assertThrows(IOException.class, () -> CifarReader.read("t", List.of(f), null));
        assertTrue(e.getMessage().contains("label 12"), e.getMessage());
    }

    @Test
    void imageFolderUsesSortedClassFolders() throws IOException {
        for (String c : new String[] {"cat", "ant"}) {
            Files.createDirectories(dir.resolve(c));
            BufferedImage img = new BufferedImage(5, 3, BufferedImage.TYPE_INT_RGB);
            ImageIO.write(img, "png", dir.resolve(c).resolve("x.png").toFile());
        }
        Files.writeString(dir.resolve("cat").resolve(".hidden"), "ignored");
        Dataset d = ImageFolder.load(dir, 3, 4, 4);
        assertArrayEquals(new String[] {"ant", "cat"}, d.classNames());
        assertEquals(2, d.count());
        assertEquals(3 * 4 * 4, d.imageBytes());
        Files.writeString(dir.resolve("cat").resolve("notes.txt"), "x");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(dir, 3, 4, 4));
        assertTrue(e.getMessage().contains("notes.txt"), e.getMessage());
    }
}
