package dev.tessera.engine.optim;

import java.lang.foreign.MemorySegment;
import java.util.List;

/** Applies one update from the parameters' accumulated gradients at the given learning rate. */
public interface Optimizer {
    void step(float lr);

    /** Number of steps taken (restored on resume). */
    long steps();

    void setSteps(long steps);

    /** Names of the per-parameter state buffers, e.g. "m", "v" for AdamW: what a checkpoint saves. */
    List<String> stateNames();

    /** State buffer {@code which} (an index into {@link #stateNames}) of parameter {@code i}, shaped like it. */
    MemorySegment state(int i, int which);
}
