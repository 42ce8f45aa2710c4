package dev.tessera.engine.kernels.simd;

import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.MathRef;
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
            int j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, c, (cr + j) * 4, NO);
                if (bias != null) v = v.add(FloatVector.fromMemorySegment(S, bias, (br + j) * 4, NO));
                if (pre != null) v.intoMemorySegment(pre, (pr + j) * 4, NO);
                v = SimdMath.act(ep.act(), v);
                if (res != null) v = v.add(FloatVector.fromMemorySegment(S, res, (rr + j) * 4, NO));
                v.intoMemorySegment(c, (cr + j) * 4, NO);
            }
            for (; j < cols; j++) {
                float v = c.getAtIndex(F, cr + j);
                if (bias != null) v += bias.getAtIndex(F, br + j);
                if (pre != null) pre.setAtIndex(F, pr + j, v);
                v = (float) MathRef.act(ep.act(), v);
                if (res != null) v += res.getAtIndex(F, rr + j);
                c.setAtIndex(F, cr + j, v);
            }
        }
    }
}
