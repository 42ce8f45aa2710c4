package dev.tessera.vit.train;

/** A NaN or infinite loss or gradient: the run stops and the last good checkpoint stays. */
public final class TrainingDiverged extends RuntimeException {
    public TrainingDiverged(String message) {
        super(message);
    }
}
