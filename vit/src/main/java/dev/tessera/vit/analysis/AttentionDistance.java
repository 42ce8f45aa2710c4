package dev.tessera.vit.analysis;

/**
 * Mean attention distance (ViT paper, Figure 7 right): for one head, the distance in pixels between a query patch and
 * the patches it attends to, weighted by the attention and averaged over queries. Only patch tokens count: a class
 * token (the first {@code extraTokens} rows and columns) has no position, and rows are renormalised over patches.
 */
public final class AttentionDistance {
    private AttentionDistance() {}

    /** attention[i][j] over N = extraTokens + gridH * gridW tokens -> mean distance in pixels. */
    public static double meanDistance(float[][] attention, int extraTokens, int gridH, int gridW, int patch) {
        int patches = gridH * gridW;
        if (attention.length != extraTokens + patches) {
            throw new IllegalArgumentException("attention has " + attention.length + " tokens, expected " + extraTokens + " + " + gridH + "x" + gridW);
        }
        double total = 0;
        for (int qi = 0; qi < patches; qi++) {
            float[] row = attention[extraTokens + qi];
            int qy = qi / gridW, qx = qi % gridW;
            double mass = 0, dist = 0;
            for (int kj = 0; kj < patches; kj++) {
                double a = row[extraTokens + kj];
                int ky = kj / gridW, kx = kj % gridW;
                mass += a;
                dist += a * Math.hypot(qy - ky, qx - kx) * patch;
            }
            total += mass > 0 ? dist / mass : 0;
        }
        return total / patches;
    }

    /**
     * The rise of the least-squares line through per-layer means, from the first layer to the last (in the means' unit;
     * 0 for fewer than two layers). The first and last layers alone swing with their heads: a model whose means went
     * 13.7 13.5 14.0 14.9 14.9 14.9 rose 9% end to end and 12% along the line.
     */
    public static double trend(double[] layerMeans) {
        int n = layerMeans.length;
        if (n < 2) return 0;
        double mx = (n - 1) / 2.0, my = 0;
        for (double v : layerMeans) my += v / n;
        double sxy = 0, sxx = 0;
        for (int l = 0; l < n; l++) {
            sxy += (l - mx) * (layerMeans[l] - my);
            sxx += (l - mx) * (l - mx);
        }
        return sxy / sxx * (n - 1);
    }
}
