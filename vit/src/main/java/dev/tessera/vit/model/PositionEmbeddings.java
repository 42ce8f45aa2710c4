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
}
