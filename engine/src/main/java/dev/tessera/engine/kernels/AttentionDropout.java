package dev.tessera.engine.kernels;

/**
 * Dropout on attention probabilities: P[i][j] of (batch x head) bh is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate). Whether it is kept is a hash of (seed, bh, i, j), so the backward pass, which recomputes P from the
 * log-sum-exp instead of storing it, drops exactly the same entries without a stored N x N mask.
 */
public record AttentionDropout(float rate, long seed) {
    public static final AttentionDropout NONE = new AttentionDropout(0f, 0L);

    public AttentionDropout {
        if (!(rate >= 0f && rate < 1f)) throw new IllegalArgumentException("attention dropout rate must be in [0, 1), got " + rate);
    }

    public boolean active() { return rate > 0f; }

    /** 0 when P[i][j] of bh is dropped, else 1 / (1 - rate). */
    public float factor(long bh, int i, int j) {
        long z = seed + bh * 0x9E3779B97F4A7C15L + i * 0xC2B2AE3D27D4EB4FL + j * 0x165667B19E3779F9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        double u = (z >>> 11) * 0x1.0p-53;
        return u < rate ? 0f : 1f / (1f - rate);
    }
}
