package dev.tessera.engine.nn;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.tensor.Tensor;

/**
 * y = act(x W + b) (+ residual). An owned W is stored (in, out) so the forward GEMM streams it row by row without
 * transposing; external weights (a mapped PyTorch checkpoint) may be stored (out, in) and are then used in place.
 */
public final class Linear {
    public final Parameter weight;
    public final Parameter bias;
    /** True when {@link #weight} is (out, in). */
    public final boolean outIn;

    public Linear(ParameterSet ps, String name, int in, int out, boolean bias) {
        this.weight = ps.linearWeight(name + ".weight", in, out);
        this.outIn = ps.storedOutIn(name + ".weight");
        this.bias = bias ? ps.create(name + ".bias", false, out) : null;
    }

    public Tensor forward(Tape tape, Tensor x) {
        return forward(tape, x, Activation.NONE, null);
    }

    public Tensor forward(Tape tape, Tensor x, Activation act, Tensor residual) {
        return Ops.linear(tape, x, weight.value(), outIn, bias == null ? null : bias.value(), act, residual);
    }
}
