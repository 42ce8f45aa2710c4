package dev.tessera.vit.image;

/**
 * Pillow's {@code Image.resize} for 8-bit images, BILINEAR and BICUBIC, reproduced step for step: a separable
 * convolution whose support widens with the downscale factor (that is the antialias), weights normalised and put in
 * 22-bit fixed point, the horizontal pass first and rounded to 8 bits, then the vertical pass. Matching it is what
 * makes logits agree with models whose preprocessing ran through PIL (timm, torchvision, Hugging Face).
 */
public final class PilResize {
    /** Pillow's resampling filters that classification presets use. */
    public enum Filter {
        BILINEAR(1.0),
        BICUBIC(2.0);

        final double support;

        Filter(double support) { this.support = support; }

        double weight(double x) {
            x = Math.abs(x);
            if (this == BILINEAR) return x < 1 ? 1 - x : 0;
            double a = -0.5; // Pillow's bicubic; PyTorch's tensor interpolation uses -0.75
            if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
            if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
            return 0;
        }
    }

    private static final int PRECISION_BITS = 32 - 8 - 2;

    private PilResize() {}

    /** Interleaved 8-bit pixels (h, w, channels) -> (nh, nw, channels). */
    public static byte[] resize(byte[] src, int w, int h, int channels, int nw, int nh, Filter f) {
        if (src.length != w * h * channels) throw new IllegalArgumentException("pixel buffer of " + src.length + " bytes for " + w + "x" + h + "x" + channels);
        if (nw < 1 || nh < 1) throw new IllegalArgumentException("cannot resize to " + nw + "x" + nh);
        byte[] cur = src;
        int cw = w;
        Coefficients cy = nh != h ? new Coefficients(h, nh, f) : null;
        if (nw != w) {
            // Only the source rows the vertical pass will read, as Pillow does (it matters for the bounds, not values).
            int y0 = cy == null ? 0 : cy.min[0], y1 = cy == null ? h : cy.min[nh - 1] + cy.len[nh - 1];
            Coefficients cx = new Coefficients(w, nw, f);
            byte[] tmp = new byte[nw * (y1 - y0) * channels];
            for (int y = y0; y < y1; y++) {
                for (int x = 0; x < nw; x++) {
                    int k0 = x * cx.ksize, xmin = cx.min[x], n = cx.len[x];
                    for (int c = 0; c < channels; c++) {
                        int ss = 1 << (PRECISION_BITS - 1);
                        for (int i = 0; i < n; i++) ss += (src[((y * w) + xmin + i) * channels + c] & 0xff) * cx.k[k0 + i];
                        tmp[((y - y0) * nw + x) * channels + c] = clip8(ss);
                    }
                }
            }
            if (cy != null) for (int i = 0; i < nh; i++) cy.min[i] -= y0;
            cur = tmp;
            cw = nw;
        }
        if (cy == null) return cur == src ? src.clone() : cur;
        byte[] out = new byte[nw * nh * channels];
        for (int y = 0; y < nh; y++) {
            int k0 = y * cy.ksize, ymin = cy.min[y], n = cy.len[y];
            for (int x = 0; x < cw; x++) {
                for (int c = 0; c < channels; c++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int i = 0; i < n; i++) ss += (cur[((ymin + i) * cw + x) * channels + c] & 0xff) * cy.k[k0 + i];
                    out[(y * nw + x) * channels + c] = clip8(ss);
                }
            }
        }
        return out;
    }

    private static byte clip8(int ss) {
        int v = ss >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
    private static final class Coefficients {
        final int ksize;
        final int[] min, len, k;

        Coefficients(int inSize, int outSize, Filter f) {
            double scale = (double) inSize / outSize, filterscale = Math.max(1, scale);
            double support = f.support * filterscale;
            ksize = (int) Math.ceil(support) * 2 + 1;
            min = new int[outSize];
            len = new int[outSize];
            k = new int[outSize * ksize];
            double[] w = new double[ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
                int xmin = Math.max(0, (int) (center - support + 0.5));
                int xmax = Math.min(inSize, (int) (center + support + 0.5)) - xmin;
                double ww = 0;
                for (int x = 0; x < xmax; x++) {
                    w[x] = f.weight((x + xmin - center + 0.5) * ss);
                    ww += w[x];
                }
                for (int x = 0; x < xmax; x++) {
                    double v = ww != 0 ? w[x] / ww : w[x];
                    k[xx * ksize + x] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
                }
                min[xx] = xmin;
                len[xx] = xmax;
            }
        }
    }
}
