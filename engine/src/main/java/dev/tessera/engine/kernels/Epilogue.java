package dev.tessera.engine.kernels;

import java.lang.foreign.MemorySegment;

/**
 * What a GEMM does to each tile of C right after its last K block, while the tile is still in cache:
 * {@code c = act(c + bias[j]) + residual[i, j]}. When {@code preAct} is set, {@code c + bias} is also written there
 * (training needs the GELU input for the backward pass). Offsets are in floats; a null segment means "absent".
 */
public record Epilogue(
        MemorySegment bias, long biasOff,
        Activation act,
        MemorySegment residual, long residualOff, long ldr,
        MemorySegment preAct, long preActOff, long ldp) {

    public static final Epilogue NONE = new Epilogue(null, 0, Activation.NONE, null, 0, 0, null, 0, 0);

    public static Epilogue bias(MemorySegment bias, long off) {
        return new Epilogue(bias, off, Activation.NONE, null, 0, 0, null, 0, 0);
    }

    public static Epilogue biasAct(MemorySegment bias, long off, Activation act) {
        return new Epilogue(bias, off, act, null, 0, 0, null, 0, 0);
    }

    public Epilogue withResidual(MemorySegment r, long off, long ld) {
        return new Epilogue(bias, biasOff, act, r, off, ld, preAct, preActOff, ldp);
    }

    public Epilogue withPreAct(MemorySegment p, long off, long ld) {
        return new Epilogue(bias, biasOff, act, residual, residualOff, ldr, p, off, ld);
    }

    public boolean isNone() {
        return bias == null && act == Activation.NONE && residual == null && preAct == null;
    }
}
