package dev.tessera.engine.nn;

import dev.tessera.engine.tensor.Tensor;

/**
 * Weights a model uses in place instead of owning them: for instance the tensors of a mapped safetensors file, which
 * an inference model reads without a copy. Names are the model's own parameter names.
 */
public interface ExternalWeights extends AutoCloseable {
    /**
     * The tensor called {@code name}, viewed as {@code shape} (same element count). Throws, naming the weight and
     * both shapes, when it is missing or does not fit.
     */
    Tensor tensor(String name, int[] shape);

    /** Whether the linear weight {@code name} is stored (out, in), as PyTorch's nn.Linear keeps it. */
    boolean storedOutIn(String name);

    @Override
    void close();
}
