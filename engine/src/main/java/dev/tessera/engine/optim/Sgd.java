package dev.tessera.engine.optim;

import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.nn.ParameterSet;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** SGD with momentum (PyTorch's formulation) and optional Nesterov; weight decay only where the parameter allows it. */
public final class Sgd implements Optimizer {
    private final List<Parameter> params;
    private final MemorySegment[] buf;
    private final float momentum, weightDecay;
    private final boolean nesterov;
    private final Kernels kernels;
    private long t;

    public Sgd(ParameterSet ps, float momentum, boolean nesterov, float weightDecay) {
        this.params = ps.all();
        this.buf = new MemorySegment[params.size()];
        for (int i = 0; i < params.size(); i++) buf[i] = ps.stateFor(params.get(i));
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.weightDecay = weightDecay;
        this.kernels = KernelProvider.get();
    }

    @Override
    public void step(float lr) {
        t++;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            kernels.sgd(p.value().segment(), p.value().offset(), p.grad().segment(), p.grad().offset(), buf[i], 0, p.numel(),
                    lr, momentum, nesterov, p.decay() ? weightDecay : 0f);
        }
    }

    @Override
    public long steps() { return t; }

    @Override
    public void setSteps(long steps) { this.t = steps; }

    @Override
    public List<String> stateNames() { return List.of("momentum"); }

    @Override
    public MemorySegment state(int i, int which) { return buf[i]; }
}
