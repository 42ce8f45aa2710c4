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
    /** W packed for the active kernels' GEMM, for frozen inference weights; null otherwise. */
    private volatile dev.tessera.engine.kernels.PackedMatrix packed;

    public Linear(ParameterSet ps, String name, int in, int out, boolean bias) {
        this.weight = ps.linearWeight(name + ".weight", in, out);
        this.outIn = ps.storedOutIn(name + ".weight");
        this.bias = bias ? ps.create(name + ".bias", false, out) : null;
    }

    public Tensor forward(Tape tape, Tensor x) {
        return forward(tape, x, Activation.NONE, null);
    }

    public Tensor forward(Tape tape, Tensor x, Activation act, Tensor residual) {
        return Ops.linear(tape, x, weight.value(), outIn, packed, bias == null ? null : bias.value(), act, residual);
    }

    /**
     * Packs W once for the forward GEMM (frozen weights only: a later change to W would not be seen), into memory from
     * {@code arena}. Returns the bytes used, 0 when the kernels have no packed path.
     */
    public long prepack(dev.tessera.engine.kernels.Kernels k, java.lang.foreign.Arena arena) {
        dev.tessera.engine.tensor.Tensor w = weight.value();
        int in = outIn ? w.dim(1) : w.dim(0), out = outIn ? w.dim(0) : w.dim(1);
        long floats = k.packedFloats(in, out);
        if (floats == 0) return 0;
        java.lang.foreign.MemorySegment dst = dev.tessera.engine.tensor.OffHeap.allocateFloats(arena, floats);
        packed = k.packB(outIn, in, out, w.segment(), w.offset(), outIn ? in : out, dst, 0);
        return packed == null ? 0 : floats * 4;
    }

    /**
     * Gives the pages of W back to the OS when W lies in a mapped file (a checkpoint read in place); they fault back in
     * from the page cache if W is read again. A no-op for weights in memory of our own.
     */
    public void unloadMappedWeight() {
        java.lang.foreign.MemorySegment seg = weight.value().segment();
        if (seg.isMapped()) seg.unload();
    }
}
