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

    /**
     * The share of a map's mass on the marked cells, e.g. of a rollout map on the patches an object covers: a map that
     * concentrates on the object gives more than the marked cells' share of the area, a uniform map exactly that.
     */
    public static double massOn(double[][] map, boolean[][] marked) {
        if (map.length != marked.length) throw new IllegalArgumentException("map has " + map.length + " rows, the marks " + marked.length);
        double on = 0, all = 0;
        for (int y = 0; y < map.length; y++) {
            if (map[y].length != marked[y].length) throw new IllegalArgumentException("row " + y + ": map has " + map[y].length + " cells, the marks " + marked[y].length);
            for (int x = 0; x < map[y].length; x++) {
                all += map[y][x];
                if (marked[y][x]) on += map[y][x];
            }
        }
        return all > 0 ? on / all : 0;
    }

    /**
     * Where a map peaks, free of its floor: the probability that a marked cell holds more than an unmarked one (ties
     * count half; the Mann-Whitney statistic, or ROC AUC, of the map as a detector of the marks). 1 when every marked
     * cell outranks every unmarked one, 0.5 for a uniform or unrelated map, 0 when the map sits on the unmarked cells.
     * Rollout needs this beside {@link #massOn}: the identity added for the residual path leaves every map a wide
     * uniform floor, which pulls the mass share toward the area whatever the peaks do. NaN when either set is empty.
     */
    public static double rankOn(double[][] map, boolean[][] marked) {
        if (map.length != marked.length) throw new IllegalArgumentException("map has " + map.length + " rows, the marks " + marked.length);
        int on = 0, off = 0;
        for (int y = 0; y < map.length; y++) {
            if (map[y].length != marked[y].length) throw new IllegalArgumentException("row " + y + ": map has " + map[y].length + " cells, the marks " + marked[y].length);
            for (boolean b : marked[y]) if (b) on++; else off++;
        }
        if (on == 0 || off == 0) return Double.NaN;
        double[] in = new double[on], out = new double[off];
        int i = 0, o = 0;
        for (int y = 0; y < map.length; y++) for (int x = 0; x < map[y].length; x++) if (marked[y][x]) in[i++] = map[y][x]; else out[o++] = map[y][x];
        double wins = 0;
        for (double a : in) for (double b : out) wins += a > b ? 1 : a == b ? 0.5 : 0;
        return wins / ((double) on * off);
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
