package dev.tessera.vit.analysis;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** The analysis pictures, drawn with Java2D and written as PNG (temp file, then rename). */
public final class Pictures {
    private static final Font FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
    private static final Color[] HEADS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf),
            new Color(0x393b79), new Color(0x637939), new Color(0x8c6d31), new Color(0x843c39), new Color(0x7b4173), new Color(0x3182bd)};

    private Pictures() {}

    /**
     * Each image (grey, values in [0, 1], [n][h][w]) beside itself under its rollout map ([n][gh][gw], stretched to the
     * image, shown as red over a dimmed image). Eight pairs per row.
     */
    public static void rolloutGrid(float[][][] images, double[][][] maps, String[] captions, Path file) throws IOException {
        int n = images.length, h = images[0].length, w = images[0][0].length, zoom = Math.max(1, 112 / Math.max(h, w));
        int cw = w * zoom, chh = h * zoom, perRow = Math.min(8, n), rows = (n + perRow - 1) / perRow, pad = 6, capH = 18;
        BufferedImage img = canvas(perRow * (2 * cw + 3 * pad), rows * (chh + capH + pad) + pad);
        Graphics2D g = graphics(img);
        for (int k = 0; k < n; k++) {
            int x0 = (k % perRow) * (2 * cw + 3 * pad) + pad, y0 = (k / perRow) * (chh + capH + pad) + pad;
            double[][] m = maps[k];
            double lo = Double.MAX_VALUE, hi = -Double.MAX_VALUE;
            for (double[] r : m) for (double v : r) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
            for (int y = 0; y < chh; y++) {
                for (int x = 0; x < cw; x++) {
                    float p = clamp(images[k][y / zoom][x / zoom]);
                    int grey = Math.round(255 * p);
                    img.setRGB(x0 + x, y0 + y, new Color(grey, grey, grey).getRGB());
                    double a = hi > lo ? (m[y * m.length / chh][x * m[0].length / cw] - lo) / (hi - lo) : 0;
                    int r = (int) Math.round(255 * (0.35 * p + 0.65 * a)), gb = (int) Math.round(255 * 0.35 * p);
                    img.setRGB(x0 + cw + pad + x, y0 + y, new Color(Math.min(255, r), gb, gb).getRGB());
                }
            }
            if (captions != null && k < captions.length) g.drawString(captions[k], x0, y0 + chh + capH - 4);
        }
        write(img, g, file);
    }

    /**
     * Mean attention distance per layer (x) and head (colour), in pixels: the ViT paper's Figure 7 (right). A black
     * bar marks each layer's mean over heads, and a dashed line the distance of uniform attention ({@code uniform};
     * NaN for none): on a 7x7 grid every head sits within a few pixels of it, and the trend is read against it.
     */
    public static void distanceScatter(double[][] distance, int imageSize, double uniform, Path file) throws IOException {
        int layers = distance.length, W = 640, H = 420, left = 60, right = 20, top = 40, bottom = 50;
        BufferedImage img = canvas(W, H);
        Graphics2D g = graphics(img);
        double yMax = Math.max(1, imageSize);
        java.util.function.DoubleToIntFunction yOf = v -> (int) (H - bottom - (H - top - bottom) * Math.min(v, yMax) / yMax);
        axes(g, left, top, W - right, H - bottom, "layer", "mean attention distance (pixels)", "Attention distance by layer and head");
        for (int t = 0; t <= 4; t++) {
            double v = yMax * t / 4;
            int y = yOf.applyAsInt(v);
            g.drawString(String.format("%.0f", v), 20, y + 4);
            g.setColor(new Color(0xe0e0e0));
            g.drawLine(left + 1, y, W - right, y);
            g.setColor(Color.BLACK);
        }
        if (Double.isFinite(uniform)) {
            int y = yOf.applyAsInt(uniform);
            java.awt.Stroke solid = g.getStroke();
            g.setColor(Color.GRAY);
            g.setStroke(new java.awt.BasicStroke(1f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
            g.drawLine(left + 1, y, W - right, y);
            // The key goes beside the title: the dots cross the line itself.
            String key = String.format("uniform attention (%.1f); bars: layer means", uniform);
            int keyX = W - right - g.getFontMetrics().stringWidth(key);
            g.drawLine(keyX - 36, 18, keyX - 6, 18);
            g.setStroke(solid);
            g.drawString(key, keyX, 22);
            g.setColor(Color.BLACK);
        }
        for (int l = 0; l < layers; l++) {
            int x = left + (int) ((W - left - right) * (l + 0.5) / layers);
            g.drawString(Integer.toString(l + 1), x - 4, H - bottom + 18);
            double mean = 0;
            for (int h = 0; h < distance[l].length; h++) {
                int y = yOf.applyAsInt(distance[l][h]);
                g.setColor(HEADS[h % HEADS.length]);
                g.fillOval(x - 5 + (h - distance[l].length / 2) * 3, y - 5, 10, 10);
                mean += distance[l][h] / distance[l].length;
            }
            g.setColor(Color.BLACK);
            if (distance[l].length > 0) g.fillRect(x - 14, yOf.applyAsInt(mean) - 1, 28, 3);
        }
        write(img, g, file);
    }

    /** A square heatmap of values in [0, 1] with row/column labels 1..n: CKA between layers. */
    public static void heatmap(double[][] values, String title, String rowLabel, String colLabel, Path file) throws IOException {
        int rows = values.length, cols = values[0].length, cell = Math.max(12, 360 / Math.max(rows, cols));
        int left = 70, top = 40, W = left + cols * cell + 90, H = top + rows * cell + 50;
        BufferedImage img = canvas(W, H);
        Graphics2D g = graphics(img);
        g.drawString(title, left, 22);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                g.setColor(viridisLike(values[r][c]));
                g.fillRect(left + c * cell, top + (rows - 1 - r) * cell, cell, cell);
            }
            g.setColor(Color.BLACK);
            g.drawString(Integer.toString(r + 1), left - 22, top + (rows - 1 - r) * cell + cell / 2 + 5);
        }
        for (int c = 0; c < cols; c++) g.drawString(Integer.toString(c + 1), left + c * cell + cell / 2 - 4, top + rows * cell + 16);
        g.drawString(colLabel, left, top + rows * cell + 36);
        g.rotate(-Math.PI / 2);
        g.drawString(rowLabel, -(top + rows * cell), 18);
        g.rotate(Math.PI / 2);
        for (int k = 0; k <= 10; k++) {
            g.setColor(viridisLike(k / 10.0));
            g.fillRect(W - 60, top + (10 - k) * rows * cell / 11, 16, rows * cell / 11 + 1);
        }
        g.setColor(Color.BLACK);
        g.drawString("1", W - 38, top + 12);
        g.drawString("0", W - 38, top + rows * cell);
        write(img, g, file);
    }

    /**
     * Cosine similarity of each patch's position embedding with every other's: a gh x gw grid of gh x gw tiles, as
     * in the ViT paper's Figure 7 (center). sims[p][q] for patches p, q in row-major order.
     */
    public static void positionSimilarity(double[][] sims, int gh, int gw, Path file) throws IOException {
        int cell = Math.max(3, 16 / Math.max(1, Math.max(gh, gw) / 7)), gap = 4, left = 20, top = 36;
        int W = left * 2 + gw * (gw * cell + gap), H = top + 20 + gh * (gh * cell + gap);
        BufferedImage img = canvas(W, H);
        Graphics2D g = graphics(img);
        g.drawString("Position embedding similarity (cosine)", left, 22);
        for (int p = 0; p < gh * gw; p++) {
            int tx = left + (p % gw) * (gw * cell + gap), ty = top + (p / gw) * (gh * cell + gap);
            for (int q = 0; q < gh * gw; q++) {
                g.setColor(viridisLike((sims[p][q] + 1) / 2));
                g.fillRect(tx + (q % gw) * cell, ty + (q / gw) * cell, cell, cell);
            }
        }
        write(img, g, file);
    }

    private static void axes(Graphics2D g, int x0, int y0, int x1, int y1, String xLabel, String yLabel, String title) {
        g.drawString(title, x0, 22);
        g.setStroke(new BasicStroke(1.2f));
        g.drawLine(x0, y1, x1, y1);
        g.drawLine(x0, y0, x0, y1);
        g.drawString(xLabel, (x0 + x1) / 2 - 15, y1 + 38);
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(y0 + y1) / 2 - 100, 12);
        g.rotate(Math.PI / 2);
    }

    private static Color viridisLike(double v) {
        double t = Math.max(0, Math.min(1, v));
        // dark blue -> teal -> yellow
        int r = (int) Math.round(255 * Math.max(0, Math.min(1, 1.6 * t * t - 0.2 * t + 0.27 * (1 - t))));
        int gr = (int) Math.round(255 * Math.max(0, Math.min(1, 0.1 + 0.85 * t)));
        int b = (int) Math.round(255 * Math.max(0, Math.min(1, 0.35 + 0.5 * t - 0.8 * t * t)));
        return new Color(r, gr, b);
    }

    private static float clamp(float v) { return Math.max(0f, Math.min(1f, v)); }

    private static BufferedImage canvas(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.dispose();
        return img;
    }

    private static Graphics2D graphics(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        g.setFont(FONT);
        return g;
    }

    private static void write(BufferedImage img, Graphics2D g, Path file) throws IOException {
        g.dispose();
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempFile(parent, file.getFileName().toString(), ".tmp");
        try {
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer in this JDK");
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
