package dev.tessera.engine.optim;

/** Linear warmup from 0 to the peak, then cosine or linear decay to {@code end * peak} at {@code total} steps. */
public record LrSchedule(float peak, long warmup, long total, Decay decay, float end) {

    public enum Decay { COSINE, LINEAR, CONSTANT }

    public LrSchedule {
        if (peak < 0 || warmup < 0 || total < 1) throw new IllegalArgumentException("schedule needs peak >= 0, warmup >= 0, total >= 1");
    }

    public float at(long step) {
        if (warmup > 0 && step < warmup) return peak * (step + 1) / warmup;
        if (decay == Decay.CONSTANT) return peak;
        double progress = Math.min(1.0, (double) (step - warmup) / Math.max(1, total - warmup));
        double f = decay == Decay.COSINE ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
        return (float) (peak * (end + (1 - end) * f));
    }
}
