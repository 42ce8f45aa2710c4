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
        long staged = stagingFloats();
        if (staged == 0) return prepack(k, arena, null);
        try (java.lang.foreign.Arena staging = java.lang.foreign.Arena.ofShared()) {
            return prepack(k, arena, dev.tessera.engine.tensor.OffHeap.allocateFloats(staging, staged));
        }
    }

    /**
     * As above; a W read in place from a mapped checkpoint is first copied into {@code staging} (at least W's size;
     * one buffer for all of a model's layers, so that the allocator does not keep each one's pages) and packed from
     * there. A mapped segment passing through any Vector API kernel, even once, made C2 compile every kernel's loads
     * with checks for a second segment class (the JDK's shared profiles): all GEMMs of the JVM then ran at 35-44
     * GFLOPS instead of 52-68 (ViT-B/16's 48 products, one thread, Zen 3), and ViT-B/16 inference at half of ONNX
     * Runtime's speed.
     */
    public long prepack(dev.tessera.engine.kernels.Kernels k, java.lang.foreign.Arena arena, java.lang.foreign.MemorySegment staging) {
        dev.tessera.engine.tensor.Tensor w = weight.value();
        int in = outIn ? w.dim(1) : w.dim(0), out = outIn ? w.dim(0) : w.dim(1);
        long floats = k.packedFloats(in, out);
        if (floats == 0) return 0;
        // Streamed from memory once per forward pass: in huge pages where the OS gives them (see LargePages).
        java.lang.foreign.MemorySegment dst = dev.tessera.engine.tensor.OffHeap.allocateLargeFloats(arena, floats);
        java.lang.foreign.MemorySegment src = w.segment();
        long off = w.offset();
        if (src.isMapped()) {
            if (staging == null || staging.byteSize() < w.numel() * 4) {
                throw new IllegalArgumentException("prepack " + weight.name() + ": a mapped weight " + w.shapeString() + " needs a staging buffer of "
                        + w.numel() * 4 + " bytes, got " + (staging == null ? "none" : staging.byteSize() + " bytes"));
            }
            java.lang.foreign.MemorySegment.copy(src, off * 4, staging, 0, w.numel() * 4);
            src = staging;
            off = 0;
        }
        packed = k.packB(outIn, in, out, src, off, outIn ? in : out, dst, 0);
        return packed == null ? 0 : floats * 4;
    }

    /** The floats {@link #prepack} needs to stage W: its size when W is mapped, else 0. */
    public long stagingFloats() {
        return weight.value().segment().isMapped() ? weight.value().numel() : 0;
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
