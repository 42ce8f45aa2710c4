package dev.tessera.engine.kernels.simd;

import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.gemm.MicroKernel;
import java.lang.foreign.MemorySegment;

/**
 * What every generated micro-kernel (MR rows x 2 vectors) shares: its width, packing, the merge of a tile buffer and
 * the epilogue. The generated subclasses hold only the register-blocked loops, which differ in MR.
 */
abstract class SimdMicroKernel implements MicroKernel {
    private static final int L = SimdSpecies.FLOAT.length();

    @Override
    public final int nr() { return 2 * L; }

    @Override
    public final void packB(MemorySegment b, long src, long ldb, int kc, int cols, MemorySegment bp, long dst) {
        SimdPack.panelB(b, src, ldb, kc, cols, 2 * L, bp, dst);
    }

    /** One L x L block per thread for {@link SimdPack#panelsBT}'s register transposes. */
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[L * L]);

    @Override
    public final void packBT(MemorySegment b, long src, long ldb, int kc, int cols, MemorySegment bp, long dst) {
        SimdPack.panelsBT(b, src, ldb, kc, cols, 2 * L, bp, dst, BLOCK.get());
    }

    @Override
    public final void packA(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst) {
        SimdPack.panelsA(a, src, lda, kc, rows, mr, alpha, ap, dst);
    }

    @Override
    public final void packAT(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst) {
        SimdPack.panelsAT(a, src, lda, kc, rows, mr, alpha, ap, dst);
    }

    @Override
    public final void merge(MemorySegment tile, int rows, int cols, float beta, MemorySegment c, long cOff, long ldc) {
        SimdEpilogue.merge(tile, 2 * L, rows, cols, beta, c, cOff, ldc);
    }

    @Override
    public final void epilogue(Epilogue ep, MemorySegment c, long cOff, long ldc, int i0, int rows, int j0, int cols) {
        SimdEpilogue.apply(ep, c, cOff, ldc, i0, rows, j0, cols);
    }
}
