package dev.tessera.engine.optim;

import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.nn.ParameterSet;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * AdamW (Loshchilov and Hutter): Adam moments with decoupled weight decay, skipped for parameters marked
 * {@code decay = false} (biases, norms, position embeddings, tokens). State lives off-heap beside the parameters.
 */
public final class AdamW implements Optimizer {
    private final List<Parameter> params;
    private final MemorySegment[] m, v;
    private final float beta1, beta2, eps, weightDecay;
    private final Kernels kernels;
    private long t;

    public AdamW(ParameterSet ps, float beta1, float beta2, float eps, float weightDecay) {
        this.params = ps.all();
        this.m = new MemorySegment[params.size()];
        this.v = new MemorySegment[params.size()];
        for (int i = 0; i < params.size(); i++) {
            m[i] = ps.stateFor(params.get(i));
            v[i] = ps.stateFor(params.get(i));
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.kernels = KernelProvider.get();
    }

    @Override
    public void step(float lr) {
        t++;
        float c1 = (float) (1 - Math.pow(beta1, t)), c2 = (float) (1 - Math.pow(beta2, t));
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            kernels.adamw(p.value().segment(), p.value().offset(), p.grad().segment(), p.grad().offset(), m[i], 0, v[i], 0,
                    p.numel(), lr, beta1, beta2, eps, p.decay() ? weightDecay : 0f, c1, c2);
        }
    }

    @Override
    public long steps() { return t; }

    @Override
    public void setSteps(long steps) { this.t = steps; }

    @Override
    public java.util.List<String> stateNames() { return java.util.List.of("m", "v"); }

    @Override
    public MemorySegment state(int i, int which) { return which == 0 ? m[i] : v[i]; }

    /** First and second moments of parameter i (for checkpoints). */
    public MemorySegment firstMoment(int i) { return m[i]; }

    public MemorySegment secondMoment(int i) { return v[i]; }
}
