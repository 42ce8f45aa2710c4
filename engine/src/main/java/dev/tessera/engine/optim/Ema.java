package dev.tessera.engine.optim;

import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.nn.ParameterSet;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** Polyak averaging: a shadow copy of the parameters, shadow = decay * shadow + (1 - decay) * p after each step. */
public final class Ema {
    private final List<Parameter> params;
    private final MemorySegment[] shadow;
    private final float decay;
    private final Kernels kernels = KernelProvider.get();

    public Ema(ParameterSet ps, float decay) {
        if (decay < 0 || decay >= 1) throw new IllegalArgumentException("EMA decay must be in [0, 1), got " + decay);
        this.params = ps.all();
        this.shadow = new MemorySegment[params.size()];
        this.decay = decay;
        for (int i = 0; i < params.size(); i++) {
            shadow[i] = ps.stateFor(params.get(i));
            MemorySegment.copy(params.get(i).value().segment(), params.get(i).value().offset() * 4, shadow[i], 0, params.get(i).numel() * 4);
        }
    }

    public void update() {
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            kernels.ema(shadow[i], 0, p.value().segment(), p.value().offset(), p.numel(), decay);
        }
    }

    public MemorySegment shadow(int i) { return shadow[i]; }

    /** Swaps the shadow weights into the model (and the model's into the shadow): call twice to swap back. */
    public void swap() {
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            long n = p.numel();
            for (long j = 0; j < n; j++) {
                float a = p.value().getFlat(j);
                p.value().setFlat(j, shadow[i].getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, j));
                shadow[i].setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, j, a);
            }
        }
    }
}
