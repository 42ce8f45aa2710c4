package dev.tessera.vit.model;

/** Fixed position embeddings. */
public final class PositionEmbeddings {
    private PositionEmbeddings() {}

    /**
     * big_vision's 2-D sin-cos: omega_k = 10000^(-k/(d-1)) for k < d = D/4; token (y, x) gets
     * [sin(x omega), cos(x omega), sin(y omega), cos(y omega)]. Returns (gridH * gridW) x D, row-major over (y, x).
     */
    public static float[] sincos2d(int gridH, int gridW, int dim) {
        if (dim % 4 != 0) throw new IllegalArgumentException("sin-cos 2-D position embedding needs dim divisible by 4, got " + dim);
        int d = dim / 4;
        double[] omega = new double[d];
        for (int k = 0; k < d; k++) omega[k] = Math.pow(10000, -(double) k / Math.max(1, d - 1));
        float[] out = new float[gridH * gridW * dim];
        for (int y = 0; y < gridH; y++) {
            for (int x = 0; x < gridW; x++) {
                int base = (y * gridW + x) * dim;
                for (int k = 0; k < d; k++) {
                    out[base + k] = (float) Math.sin(x * omega[k]);
                    out[base + d + k] = (float) Math.cos(x * omega[k]);
                    out[base + 2 * d + k] = (float) Math.sin(y * omega[k]);
                    out[base + 3 * d + k] = (float) Math.cos(y * omega[k]);
                }
            }
        }
        return out;
    }

    /**
     * Resamples a (h x w) grid of D-vectors to (nh x nw) bicubically, as timm's resample_abs_pos_embed does through
     * torch's interpolate(mode='bicubic', align_corners=False): cubic convolution with A = -0.75, half-pixel centres,
     * edge samples clamped. Row-major over (y, x) in and out; class-token rows are the caller's to keep apart.
     */
    public static float[] resample(float[] grid, int h, int w, int nh, int nw, int dim) {
        if (grid.length != h * w * dim) throw new IllegalArgumentException("position grid of " + grid.length + " floats is not " + h + "x" + w + "x" + dim);
        if (nh < 1 || nw < 1) throw new IllegalArgumentException("cannot resample to a " + nh + "x" + nw + " grid");
        float[] out = new float[nh * nw * dim];
        for (int y = 0; y < nh; y++) {
            double sy = (y + 0.5) * h / nh - 0.5;
            int y0 = (int) Math.floor(sy);
            double[] wy = cubicWeights(sy - y0);
            for (int x = 0; x < nw; x++) {
                double sx = (x + 0.5) * w / nw - 0.5;
                int x0 = (int) Math.floor(sx);
                double[] wx = cubicWeights(sx - x0);
                int o = (y * nw + x) * dim;
                for (int d = 0; d < dim; d++) {
                    double v = 0;
                    for (int i = 0; i < 4; i++) {
                        int yy = Math.clamp(y0 - 1 + i, 0, h - 1);
                        double row = 0;
                        for (int j = 0; j < 4; j++) row += wx[j] * grid[(yy * w + Math.clamp(x0 - 1 + j, 0, w - 1)) * dim + d];
                        v += wy[i] * row;
                    }
                    out[o + d] = (float) v;
                }
            }
        }
        return out;
    }

    /** Keys' cubic convolution weights for offsets -1, 0, 1, 2 from the sample at fraction t, A = -0.75 (PyTorch). */
    private static double[] cubicWeights(double t) {
        double a = -0.75;
        double x1 = t + 1, x2 = t, x3 = 1 - t, x4 = 2 - t;
        return new double[] {
            ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a,
            ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1,
            ((a + 2) * x3 - (a + 3)) * x3 * x3 + 1,
            ((a * x4 - 5 * a) * x4 + 8 * a) * x4 - 4 * a,
        };
    }
}
