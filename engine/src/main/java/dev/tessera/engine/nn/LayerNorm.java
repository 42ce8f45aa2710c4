package dev.tessera.engine.nn;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.tensor.Tensor;

/** LayerNorm over the last dim with affine gamma (ones) and beta (zeros); neither is weight-decayed. */
public final class LayerNorm {
    public final Parameter gamma;
    public final Parameter beta;
    public final float eps;

    public LayerNorm(ParameterSet ps, String name, int dim, float eps) {
        this.gamma = ps.constant(name + ".weight", false, 1f, dim);
        this.beta = ps.create(name + ".bias", false, dim);
        this.eps = eps;
    }

    public Tensor forward(Tape tape, Tensor x) {
        return Ops.layerNorm(tape, x, gamma.value(), beta.value(), eps);
    }
}
