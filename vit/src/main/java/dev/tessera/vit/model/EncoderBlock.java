package dev.tessera.vit.model;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.nn.LayerNorm;
import dev.tessera.engine.nn.Linear;
import dev.tessera.engine.nn.ParameterSet;
import dev.tessera.engine.tensor.Tensor;

/**
 * A pre-LN encoder block: x + MHSA(LN(x)), then x + MLP(LN(x)). Without dropout or drop-path on a branch, its residual
 * add rides in the GEMM epilogue of the branch's last Linear.
 */
public final class EncoderBlock {
    final LayerNorm norm1, norm2;
    final Linear qkv, proj, fc1, fc2;
    final int heads;
    final float projDropout, mlpDropout, dropPath, attnDropout;
    /** Per-head attention scale d_h^-1/2: a constant, or with Locality Self-Attention a learned temperature. */
    final Tensor scale;
    /** Locality Self-Attention's additive mask, -inf on the diagonal; null without LSA. */
    final Tensor mask;

    EncoderBlock(ParameterSet ps, String name, ViTConfig c, float dropPath) {
        norm1 = new LayerNorm(ps, name + ".norm1", c.dim(), c.lnEps());
        qkv = new Linear(ps, name + ".attn.qkv", c.dim(), 3 * c.dim(), true);
        proj = new Linear(ps, name + ".attn.proj", c.dim(), c.dim(), true);
        norm2 = new LayerNorm(ps, name + ".norm2", c.dim(), c.lnEps());
        fc1 = new Linear(ps, name + ".mlp.fc1", c.dim(), c.mlpDim(), true);
        fc2 = new Linear(ps, name + ".mlp.fc2", c.mlpDim(), c.dim(), true);
        heads = c.heads();
        projDropout = c.projDropout();
        attnDropout = c.attnDropout();
        mlpDropout = c.mlpDropout();
        this.dropPath = dropPath;
        float s0 = (float) (1 / Math.sqrt(c.headDim()));
        if (c.lsa()) {
            scale = ps.constant(name + ".attn.scale", false, s0, heads).value();
            int n = c.tokens();
            mask = Tensor.zeros(ps.arena(), n, n);
            for (int i = 0; i < n; i++) mask.set(Float.NEGATIVE_INFINITY, i, i);
        } else {
            float[] s = new float[heads];
            java.util.Arrays.fill(s, s0);
            scale = Tensor.of(ps.arena(), s, heads);
            mask = null;
        }
    }

    /** x: (B, T, D) -> (B, T, D). seed makes dropout and drop-path reproducible per step and block. */
    Tensor forward(Tape tape, Tensor x, long seed) {
        Tensor h = norm1.forward(tape, x);
        Tensor o = Ops.attention(tape, qkv.forward(tape, h), heads, scale, mask, attnDropout, seed ^ 0x632be59bd9b4e019L);
        x = branch(tape, x, o, proj, Activation.NONE, projDropout, seed);
        Tensor m = fc1.forward(tape, norm2.forward(tape, x), Activation.GELU, null);
        m = Ops.dropout(tape, m, mlpDropout, seed ^ 0x5bd1e995L);
        return branch(tape, x, m, fc2, Activation.NONE, mlpDropout, seed ^ 0x27d4eb2dL);
    }

    private Tensor branch(Tape tape, Tensor x, Tensor in, Linear layer, Activation act, float dropout, long seed) {
        boolean stochastic = tape.recording() && (dropout > 0 || dropPath > 0);
        if (!stochastic) return layer.forward(tape, in, act, x);
        Tensor y = layer.forward(tape, in, act, null);
        y = Ops.dropout(tape, y, dropout, seed);
        y = Ops.dropPath(tape, y, dropPath, seed * 31 + 7);
        return Ops.add(tape, x, y);
    }

    /** The attention probabilities of this block for input x (B, T, D), explicitly: [image][head][i][j]. */
    float[][][][] attentionProbabilities(Tape tape, Tensor x) {
        int b = x.dim(0), t = x.dim(1), dim = x.dim(2), dh = dim / heads;
        float[] v = qkv.forward(tape, norm1.forward(tape, x)).toArray();   // (B, T, 3 D): q | k | v
        float[] sc = scale.toArray();
        float[][][][] p = new float[b][heads][t][t];
        for (int n = 0; n < b; n++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < t; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    double[] row = new double[t];
                    for (int j = 0; j < t; j++) {
                        double dot = 0;
                        int qi = (n * t + i) * 3 * dim + h * dh, kj = (n * t + j) * 3 * dim + dim + h * dh;
                        for (int e = 0; e < dh; e++) dot += (double) v[qi + e] * v[kj + e];
                        row[j] = mask != null && i == j ? Double.NEGATIVE_INFINITY : sc[h] * dot;
                        max = Math.max(max, row[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < t; j++) sum += row[j] = Math.exp(row[j] - max);
                    for (int j = 0; j < t; j++) p[n][h][i][j] = (float) (row[j] / sum);
                }
            }
        }
        return p;
    }

    /** Gives the pages of this block's mapped weights back to the OS (a no-op for weights in memory of our own). */
    void unloadMappedWeights() {
        for (Linear l : new Linear[] {qkv, proj, fc1, fc2}) l.unloadMappedWeight();
    }
}
