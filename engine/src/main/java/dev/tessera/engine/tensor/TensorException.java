package dev.tessera.engine.tensor;

/** Every misuse of a tensor (shape mismatch, use after close, index out of range) ends here, with the shapes named. */
public final class TensorException extends RuntimeException {
    public TensorException(String message) {
        super(message);
    }
}
