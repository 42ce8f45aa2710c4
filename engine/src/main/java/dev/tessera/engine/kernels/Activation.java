package dev.tessera.engine.kernels;

/** Activations a GEMM epilogue or an elementwise kernel can apply. */
public enum Activation {
    NONE,
    /** x * Phi(x), with the exact erf. */
    GELU,
    /** The tanh approximation of GELU (as in BERT and the original ViT code). */
    GELU_TANH,
    /** tanh, the original ViT's pre-logits activation. */
    TANH,
    /** max(x, 0), as in DRLoc's localisation MLP; its derivative at 0 is taken as 0. */
    RELU
}
