package dev.tessera.engine.kernels.simd;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.Epilogue;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** The GEMM epilogue on one tile, vectorised along the row: c = act(c + bias) + residual. */
final class SimdEpilogue {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private SimdEpilogue() {}

    static void apply(Epilogue ep, MemorySegment c, long cOff, long ldc, int i0, int rows, int j0, int cols) {
        MemorySegment bias = ep.bias(), res = ep.residual(), pre = ep.preAct();
        for (int i = i0; i < i0 + rows; i++) {
            long cr = cOff + i * ldc + j0;
            long rr = res == null ? 0 : ep.residualOff() + i * ep.ldr() + j0;
            long pr = pre == null ? 0 : ep.preActOff() + i * ep.ldp() + j0;
            long br = ep.biasOff() + j0;
            if (ep.act() == Activation.GELU && bias != null && res == null) {
                SimdMath.geluBias(c, cr, bias, br, pre, pr, c, cr, cols);
                continue;
            }
            if (ep.act() == Activation.NONE && pre == null) {
                biasResidual(c, cr, bias, br, res, rr, cols);
                continue;
            }
            // Other activations: three passes over a row of the block, all in cache: bias (and the saved pre-activation), the activation,
            // the residual.
            int j = 0;
            if (bias != null || pre != null) {
                for (; j <= cols - L; j += L) {
                    FloatVector v = FloatVector.fromMemorySegment(S, c, (cr + j) * 4, NO);
                    if (bias != null) v = v.add(FloatVector.fromMemorySegment(S, bias, (br + j) * 4, NO));
                    if (pre != null) v.intoMemorySegment(pre, (pr + j) * 4, NO);
                    v.intoMemorySegment(c, (cr + j) * 4, NO);
                }
                for (; j < cols; j++) {
                    float v = c.getAtIndex(F, cr + j);
                    if (bias != null) v += bias.getAtIndex(F, br + j);
                    if (pre != null) pre.setAtIndex(F, pr + j, v);
                    c.setAtIndex(F, cr + j, v);
                }
            }
            if (ep.act() != Activation.NONE) SimdMath.activation(ep.act(), c, cr, c, cr, cols);
            if (res != null) {
                for (j = 0; j <= cols - L; j += L) {
                    FloatVector v = FloatVector.fromMemorySegment(S, c, (cr + j) * 4, NO).add(FloatVector.fromMemorySegment(S, res, (rr + j) * 4, NO));
                    v.intoMemorySegment(c, (cr + j) * 4, NO);
                }
                for (; j < cols; j++) c.setAtIndex(F, cr + j, c.getAtIndex(F, cr + j) + res.getAtIndex(F, rr + j));
            }
        }
    }

    /**
     * c += bias + residual over n floats in one pass; either may be null. A loop per case: a vector reassigned under
     * a condition is boxed by C2 where type profiles are missing.
     */
    private static void biasResidual(MemorySegment c, long cOff, MemorySegment bias, long bOff, MemorySegment res, long rOff, int n) {
        int j = 0;
        if (bias != null && res != null) {
            for (; j <= n - L; j += L) {
                FloatVector.fromMemorySegment(S, c, (cOff + j) * 4, NO).add(FloatVector.fromMemorySegment(S, bias, (bOff + j) * 4, NO))
                        .add(FloatVector.fromMemorySegment(S, res, (rOff + j) * 4, NO)).intoMemorySegment(c, (cOff + j) * 4, NO);
            }
        } else if (bias != null || res != null) {
            MemorySegment t = bias != null ? bias : res;
            long tOff = bias != null ? bOff : rOff;
            for (; j <= n - L; j += L) {
                FloatVector.fromMemorySegment(S, c, (cOff + j) * 4, NO).add(FloatVector.fromMemorySegment(S, t, (tOff + j) * 4, NO))
                        .intoMemorySegment(c, (cOff + j) * 4, NO);
            }
        }
        for (; j < n; j++) {
            float v = c.getAtIndex(F, cOff + j);
            if (bias != null) v += bias.getAtIndex(F, bOff + j);
            if (res != null) v += res.getAtIndex(F, rOff + j);
            c.setAtIndex(F, cOff + j, v);
        }
    }

    /** C[rows x cols] = tile (rows ldt apart) + beta * C, vectorised; beta == 0 never reads C. */
    static void merge(MemorySegment tile, int ldt, int rows, int cols, float beta, MemorySegment c, long cOff, long ldc) {
        for (int r = 0; r < rows; r++) {
            long cr = cOff + r * ldc, tr = (long) r * ldt;
            int j = 0;
            if (beta == 0f) {
                for (; j <= cols - L; j += L) FloatVector.fromMemorySegment(S, tile, (tr + j) * 4, NO).intoMemorySegment(c, (cr + j) * 4, NO);
            } else {
                FloatVector vb = FloatVector.broadcast(S, beta);
                for (; j <= cols - L; j += L) {
                    FloatVector.fromMemorySegment(S, c, (cr + j) * 4, NO).fma(vb, FloatVector.fromMemorySegment(S, tile, (tr + j) * 4, NO))
                            .intoMemorySegment(c, (cr + j) * 4, NO);
                }
            }
            for (; j < cols; j++) {
                float v = tile.getAtIndex(F, tr + j);
                if (beta != 0f) v += beta * c.getAtIndex(F, cr + j);
                c.setAtIndex(F, cr + j, v);
            }
        }
    }
}
