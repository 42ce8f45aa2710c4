package dev.tessera.engine.optim;

/** Applies one update from the parameters' accumulated gradients at the given learning rate. */
public interface Optimizer {
    void step(float lr);

    /** Number of steps taken (restored on resume). */
    long steps();
}
