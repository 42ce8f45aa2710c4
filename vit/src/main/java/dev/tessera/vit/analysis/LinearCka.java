package dev.tessera.vit.analysis;

/**
 * Linear centred kernel alignment (Kornblith et al. 2019) between two representations of the same n examples,
 * X (n x p) and Y (n x q): ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with columns centred. 1 for the same
 * representation up to rotation and scale, 0 for unrelated ones. In double throughout.
 */
public final class LinearCka {
    private LinearCka() {}

    public static double cka(float[][] x, float[][] y) {
        if (x.length != y.length || x.length < 2) throw new IllegalArgumentException("CKA needs the same n >= 2 examples in both, got " + x.length + " and " + y.length);
        double[][] xc = centred(x), yc = centred(y);
        double xy = frobeniusSquared(crossProduct(yc, xc));
        double xx = Math.sqrt(frobeniusSquared(crossProduct(xc, xc)));
        double yy = Math.sqrt(frobeniusSquared(crossProduct(yc, yc)));
        return xx == 0 || yy == 0 ? 0 : xy / (xx * yy);
    }

    private static double[][] centred(float[][] m) {
        int n = m.length, p = m[0].length;
        double[][] c = new double[n][p];
        for (int j = 0; j < p; j++) {
            double mean = 0;
            for (float[] row : m) mean += row[j];
            mean /= n;
            for (int i = 0; i < n; i++) c[i][j] = m[i][j] - mean;
        }
        return c;
    }

    /** a^T b for a (n x p), b (n x q) -> (p x q). */
    private static double[][] crossProduct(double[][] a, double[][] b) {
        int n = a.length, p = a[0].length, q = b[0].length;
        double[][] r = new double[p][q];
        for (int i = 0; i < n; i++) {
            for (int s = 0; s < p; s++) {
                double v = a[i][s];
                for (int t = 0; t < q; t++) r[s][t] += v * b[i][t];
            }
        }
        return r;
    }

    private static double frobeniusSquared(double[][] m) {
        double s = 0;
        for (double[] row : m) for (double v : row) s += v * v;
        return s;
    }
}
