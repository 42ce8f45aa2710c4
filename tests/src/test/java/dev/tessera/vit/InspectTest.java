package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.autograd.GradCheck;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.analysis.Pictures;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.awt.image.BufferedImage;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What analyze draws from: the explicit attention probabilities and pooled layer outputs, and the PNGs. */
class InspectTest {
    @Test
    void attentionRowsAreDistributionsAndLsaNeverAttendsToItself() {
        ViTConfig cfg = ViTConfig.of(8, 8, 1, 4, 8, 2, 2, 12, 3).withSmallDataMethods(false, true);
        try (VisionTransformer vit = new VisionTransformer(cfg, 3); Workspace ws = new Workspace(); Arena a = Arena.ofShared()) {
            Tensor x = GradCheck.input(a, 1, 3, 1, 8, 8).requiresGrad(false);
            VisionTransformer.Inside in = vit.inspect(ws, x);
            assertEquals(2, in.attention().length);
            int t = cfg.tokens();
            for (float[][][][] layer : in.attention()) {
                assertEquals(3, layer.length);
                for (float[][][] image : layer) {
                    for (float[][] head : image) {
                        for (int i = 0; i < t; i++) {
                            double s = 0;
                            for (float v : head[i]) s += v;
                            assertEquals(1.0, s, 1e-5, "row " + i + " sums to 1");
                            assertEquals(0f, head[i][i], "LSA masks the diagonal");
                        }
                    }
                }
            }
            assertEquals(3, in.pooled()[1].length);
            assertEquals(8, in.pooled()[1][0].length);
        }
    }

    @Test
    void picturesAreWrittenAsPngsOfTheExpectedSize(@TempDir Path dir) throws Exception {
        float[][][] img = new float[3][28][28];
        double[][][] maps = new double[3][7][7];
        maps[1][3][3] = 1;
        Pictures.rolloutGrid(img, maps, new String[] {"a", "b", "c"}, dir.resolve("r.png"));
        Pictures.distanceScatter(new double[][] {{1, 2}, {3, 4}}, 28, 14.4, dir.resolve("d.png"));
        Pictures.heatmap(new double[][] {{1, 0.5}, {0.5, 1}}, "t", "x", "y", dir.resolve("h.png"));
        Pictures.positionSimilarity(new double[][] {{1, -1}, {-1, 1}}, 1, 2, dir.resolve("p.png"));
        for (String f : new String[] {"r.png", "d.png", "h.png", "p.png"}) {
            BufferedImage b = ImageIO.read(dir.resolve(f).toFile());
            assertNotNull(b, f);
            assertTrue(b.getWidth() > 20 && b.getHeight() > 20, f);
        }
        try (var files = Files.list(dir)) {
            assertEquals(4, files.count(), "no temp files left");
        }
        // The overlay (right of each image) is reddest where the map peaks: patch (3, 3) of image b.
        BufferedImage r = ImageIO.read(dir.resolve("r.png").toFile());
        int zoom = 4, pad = 6, cw = 28 * zoom, x0 = (2 * cw + 3 * pad) + pad + cw + pad;
        int peak = (r.getRGB(x0 + 3 * 4 * zoom + 2, pad + 3 * 4 * zoom + 2) >> 16) & 0xff;
        int corner = (r.getRGB(x0 + 2, pad + 2) >> 16) & 0xff;
        assertTrue(peak > corner + 100, "peak red " + peak + " vs corner " + corner);
    }
}
