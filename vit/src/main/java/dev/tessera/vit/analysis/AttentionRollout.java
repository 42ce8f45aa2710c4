package dev.tessera.vit.analysis;

/**
 * Attention rollout (Abnar and Zuidema 2020), as the ViT paper uses it for its attention maps: per layer, the heads'
 * attention averaged, the identity added for the residual path and rows renormalised; then the layers multiplied from
 * the first to the last. Row i of the result says how much token i at the top draws on each input token.
 */
public final class AttentionRollout {
    private AttentionRollout() {}

    /** attention[layer][head][i][j], each row a distribution over j -> rollout[i][j] (N x N). */
    public static double[][] rollout(float[][][][] attention) {
        if (attention.length == 0) throw new IllegalArgumentException("rollout needs at least one layer");
        int n = attention[0][0].length;
        double[][] result = identity(n);
        for (float[][][] layer : attention) {
            if (layer.length == 0 || layer[0].length != n) throw new IllegalArgumentException("every layer must hold heads of " + n + " x " + n);
            double[][] a = new double[n][n];
            for (float[][] head : layer) {
                for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i][j] += head[i][j] / (double) layer.length;
            }
            for (int i = 0; i < n; i++) {
                a[i][i] += 1;
                double s = 0;
                for (int j = 0; j < n; j++) s += a[i][j];
                for (int j = 0; j < n; j++) a[i][j] /= s;
            }
            result = multiply(a, result);
        }
        return result;
    }

    static double[][] identity(int n) {
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++) m[i][i] = 1;
        return m;
    }

    static double[][] multiply(double[][] a, double[][] b) {
        int n = a.length, k = b.length, m = b[0].length;
        double[][] c = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < k; p++) {
                double v = a[i][p];
                if (v != 0) for (int j = 0; j < m; j++) c[i][j] += v * b[p][j];
            }
        }
        return c;
    }
}
