package dev.tessera.engine.kernels;

/**
 * Geometry of multi-head attention over tensors laid out as (B, N, H, d) with arbitrary strides, in floats. Q, K and V
 * share one layout (they are usually slices of one (B, N, 3, H, d) qkv tensor); O and dO share another. The element
 * (b, n, h, i) of Q is at {@code qOff + b*sB + n*sN + h*sH + i}.
 */
public record AttentionShape(int batch, int heads, int tokens, int headDim,
                             long sB, long sN, long sH,
                             long oB, long oN, long oH) {

    public AttentionShape {
        if (batch < 1 || heads < 1 || tokens < 1 || headDim < 1) {
            throw new IllegalArgumentException("attention needs B, H, N, d >= 1, got B=" + batch + " H=" + heads + " N=" + tokens + " d=" + headDim);
        }
    }

    /** Q/K/V as slices of a contiguous (B, N, 3, H, d) tensor, O contiguous (B, N, H, d). */
    public static AttentionShape packedQkv(int batch, int tokens, int heads, int headDim) {
        long dim = (long) heads * headDim;
        return new AttentionShape(batch, heads, tokens, headDim, tokens * 3 * dim, 3 * dim, headDim,
                tokens * dim, dim, headDim);
    }

    /** Q, K, V and O each contiguous (B, N, H, d). */
    public static AttentionShape contiguous(int batch, int tokens, int heads, int headDim) {
        long dim = (long) heads * headDim;
        return new AttentionShape(batch, heads, tokens, headDim, tokens * dim, dim, headDim, tokens * dim, dim, headDim);
    }
}
