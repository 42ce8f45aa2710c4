package dev.tessera.engine.nn;

import dev.tessera.engine.tensor.Tensor;

/**
 * A trainable tensor with its persistent gradient buffer and whether weight decay applies to it (not to biases, norms,
 * position embeddings or tokens).
 */
public record Parameter(String name, Tensor value, boolean decay) {
    public Tensor grad() { return value.grad(); }

    public long numel() { return value.numel(); }
}
