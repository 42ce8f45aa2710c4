package dev.tessera.vit.model;

import java.util.Locale;

/**
 * Everything that fixes a ViT's shape and regularisation (big_vision style: a small record; a recipe is a short
 * readable config). Image sizes may be non-square but must be multiples of the patch size.
 */
public record ViTConfig(int imageHeight, int imageWidth, int channels, int patch,
                        int dim, int depth, int heads, int mlpDim, int numClasses,
                        Pool pool, PosEmb posEmb, boolean fcNorm, Head head, boolean headZeroInit,
                        float lnEps, float embDropout, float projDropout, float mlpDropout, float dropPath, float attnDropout,
                        boolean spt, boolean lsa, float drloc) {

    /** Class token, or global average pooling over the patch tokens. */
    public enum Pool { CLS, GAP }

    /** Learned 1-D (trunc-normal 0.02), fixed 2-D sin-cos (big_vision), or none. */
    public enum PosEmb { LEARN, SINCOS2D, NONE }

    /** A linear head, or the original ViT's MLP head (Linear + tanh pre-logits, then Linear). */
    public enum Head { LINEAR, MLP_TANH }

    public ViTConfig {
        require(imageHeight > 0 && imageWidth > 0, "image size must be positive, got " + imageHeight + "x" + imageWidth);
        require(channels == 1 || channels == 3, "channels must be 1 or 3, got " + channels);
        require(patch > 0 && imageHeight % patch == 0 && imageWidth % patch == 0,
                "image " + imageHeight + "x" + imageWidth + " is not a multiple of patch " + patch);
        require(dim > 0 && heads > 0 && dim % heads == 0, "dim " + dim + " must be a positive multiple of heads " + heads);
        require(depth >= 0 && mlpDim > 0 && numClasses > 0, "depth, mlp dim and classes must be positive");
        require(lnEps > 0, "LayerNorm eps must be > 0");
        for (float p : new float[] {embDropout, projDropout, mlpDropout, dropPath, attnDropout}) require(p >= 0 && p < 1, "dropout rates must be in [0, 1), got " + p);
        require(pool != null && posEmb != null && head != null, "pool, posemb and head must be set");
        require(drloc >= 0 && Float.isFinite(drloc), "DRLoc weight must be >= 0, got " + drloc);
        require(!spt || patch >= 2, "Shifted Patch Tokenization shifts by half a patch: patch must be >= 2, got " + patch);
        // (Fields are not set yet in a compact constructor: the token count from the parameters.)
        require(!lsa || (imageHeight / patch) * (imageWidth / patch) + (pool == Pool.CLS ? 1 : 0) > 1,
                "Locality Self-Attention masks the diagonal: it needs more than one token");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    public int gridH() { return imageHeight / patch; }
    public int gridW() { return imageWidth / patch; }
    public int patches() { return gridH() * gridW(); }
    public int tokens() { return patches() + (pool == Pool.CLS ? 1 : 0); }
    public int headDim() { return dim / heads; }
    /** Floats per flattened patch: with SPT, of the image and its four diagonal shifts (5 C channels). */
    public int patchDim() { return (spt ? 5 : 1) * channels * patch * patch; }

    /** A plain config: class token, learned position embedding, linear head, no dropout, eps 1e-6. */
    public static ViTConfig of(int height, int width, int channels, int patch, int dim, int depth, int heads, int mlpDim, int classes) {
        return new ViTConfig(height, width, channels, patch, dim, depth, heads, mlpDim, classes,
                Pool.CLS, PosEmb.LEARN, false, Head.LINEAR, false, 1e-6f, 0f, 0f, 0f, 0f, 0f, false, false, 0f);
    }

    /**
     * The papers' sizes: Ti, S, B, L, H with a patch size, e.g. "B/16" (ViT paper Table 1; Ti and S from DeiT).
     */
    public static ViTConfig preset(String name, int height, int width, int channels, int classes) {
        String[] p = name.toUpperCase(Locale.ROOT).split("/");
        require(p.length == 2, "preset '" + name + "' is not of the form B/16");
        int patch;
        try {
            patch = Integer.parseInt(p[1]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("preset '" + name + "': patch size '" + p[1] + "' is not a number");
        }
        return switch (p[0]) {
            case "TI" -> of(height, width, channels, patch, 192, 12, 3, 768, classes);
            case "S" -> of(height, width, channels, patch, 384, 12, 6, 1536, classes);
            case "B" -> of(height, width, channels, patch, 768, 12, 12, 3072, classes);
            case "L" -> of(height, width, channels, patch, 1024, 24, 16, 4096, classes);
            case "H" -> of(height, width, channels, patch, 1280, 32, 16, 5120, classes);
            default -> throw new IllegalArgumentException("unknown preset '" + name + "': use Ti, S, B, L or H with a patch size, e.g. B/16");
        };
    }

    public ViTConfig withPool(Pool p) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, p, posEmb, fcNorm, head, headZeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, spt, lsa, drloc);
    }

    public ViTConfig withPosEmb(PosEmb e) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, e, fcNorm, head, headZeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, spt, lsa, drloc);
    }

    public ViTConfig withHead(Head h, boolean zeroInit, boolean fcNorm) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, posEmb, fcNorm, h, zeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, spt, lsa, drloc);
    }

    public ViTConfig withRegularisation(float emb, float proj, float mlp, float dropPath) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, posEmb, fcNorm, head, headZeroInit, lnEps, emb, proj, mlp, dropPath, attnDropout, spt, lsa, drloc);
    }

    public ViTConfig withLnEps(float eps) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, posEmb, fcNorm, head, headZeroInit, eps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, spt, lsa, drloc);
    }

    public ViTConfig withClasses(int classes) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, classes, pool, posEmb, fcNorm, head, headZeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, spt, lsa, drloc);
    }

    /** Dropout on the attention probabilities (inside the fused attention kernel). */
    public ViTConfig withAttentionDropout(float p) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, posEmb, fcNorm, head, headZeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, p, spt, lsa, drloc);
    }

    /**
     * The small-dataset methods of Lee et al. 2021: Shifted Patch Tokenization (the image and its four diagonal shifts
     * by P/2, patchified, LayerNorm, Linear) and Locality Self-Attention (diagonal masked, learnable per-head scale).
     */
    public ViTConfig withSmallDataMethods(boolean shiftedPatches, boolean localityAttention) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, posEmb, fcNorm, head, headZeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, shiftedPatches, localityAttention, drloc);
    }

    /** DRLoc's auxiliary loss weight lambda (Liu et al. 2021; 0 = off): the model then carries its localisation MLP. */
    public ViTConfig withDrloc(float lambda) {
        return new ViTConfig(imageHeight, imageWidth, channels, patch, dim, depth, heads, mlpDim, numClasses, pool, posEmb, fcNorm, head, headZeroInit, lnEps, embDropout, projDropout, mlpDropout, dropPath, attnDropout, spt, lsa, lambda);
    }
}
