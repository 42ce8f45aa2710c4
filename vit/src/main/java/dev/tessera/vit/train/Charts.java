package dev.tessera.vit.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;

/** The training-curve chart: loss and accuracy per epoch, train and test, drawn with Java2D into a PNG. */
public final class Charts {
    private Charts() {}

    public static void trainingCurves(List<EpochMetrics> ms, Path file) throws IOException {
        curves(ms, file, "loss", "accuracy");
    }

    /** Loss and accuracy panels under the given titles; a series with no finite value (no test split) is left out. */
    static void curves(List<EpochMetrics> ms, Path file, String lossTitle, String accuracyTitle) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 960, h = 420;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        panel(g, ms, 0, lossTitle, EpochMetrics::trainLoss, EpochMetrics::testLoss, w / 2, h);
        panel(g, ms, w / 2, accuracyTitle, EpochMetrics::trainAcc, EpochMetrics::testAcc, w / 2, h);
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }

    private static void panel(Graphics2D g, List<EpochMetrics> ms, int x0, String title, ToDoubleFunction<EpochMetrics> a,
                              ToDoubleFunction<EpochMetrics> b, int w, int h) {
        int left = x0 + 60, right = x0 + w - 20, top = 40, bottom = h - 50;
        double lo = Double.MAX_VALUE, hi = -Double.MAX_VALUE;
        for (EpochMetrics m : ms) {
            for (double v : new double[] {a.applyAsDouble(m), b.applyAsDouble(m)}) {
                if (Double.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
            }
        }
        if (lo > hi) { lo = 0; hi = 1; }
        if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
        double pad = (hi - lo) * 0.05;
        lo -= pad;
        hi += pad;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title, left, top - 15);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.drawLine(left, bottom, right, bottom);
        g.drawLine(left, top, left, bottom);
        for (int t = 0; t <= 4; t++) {
            double v = lo + (hi - lo) * t / 4;
            int y = bottom - (int) ((bottom - top) * t / 4.0);
            g.setColor(new Color(230, 230, 230));
            g.drawLine(left + 1, y, right, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format("%.3f", v), x0 + 8, y + 4);
        }
        int n = ms.size();
        g.drawString("epoch", (left + right) / 2 - 15, h - 15);
        if (n > 0) {
            g.drawString("1", left, bottom + 15);
            g.drawString(Integer.toString(ms.getLast().epoch()), right - 10, bottom + 15);
        }
        series(g, ms, a, new Color(31, 119, 180), left, right, top, bottom, lo, hi);
        series(g, ms, b, new Color(214, 39, 40), left, right, top, bottom, lo, hi);
        g.setColor(new Color(31, 119, 180));
        g.drawString("train", right - 90, top - 15);
        if (ms.stream().anyMatch(m -> Double.isFinite(b.applyAsDouble(m)))) {
            g.setColor(new Color(214, 39, 40));
            g.drawString("test", right - 45, top - 15);
        }
    }

    private static void series(Graphics2D g, List<EpochMetrics> ms, ToDoubleFunction<EpochMetrics> f, Color c,
                               int left, int right, int top, int bottom, double lo, double hi) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2f));
        int n = ms.size();
        int px = -1, py = -1;
        for (int i = 0; i < n; i++) {
            double v = f.applyAsDouble(ms.get(i));
            if (!Double.isFinite(v)) continue;
            int x = n == 1 ? (left + right) / 2 : left + (int) ((right - left) * (double) i / (n - 1));
            int y = bottom - (int) ((bottom - top) * (v - lo) / (hi - lo));
            if (px >= 0) g.drawLine(px, py, x, y);
            g.fillOval(x - 3, y - 3, 6, 6);
            px = x;
            py = y;
        }
        g.setStroke(new BasicStroke(1f));
    }
}
