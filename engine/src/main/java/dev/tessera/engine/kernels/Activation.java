package dev.tessera.engine.kernels;

/** Activations a GEMM epilogue or an elementwise kernel can apply. */
public enum Activation {
    NONE,
    /** x * Phi(x), with the exact erf. */
    GELU,
    /** The tanh approximation of GELU (as in BERT and the original ViT code). */
    GELU_TANH,
    /** tanh, the original ViT's pre-logits activation. */
    TANH
}
