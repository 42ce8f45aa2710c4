package dev.tessera.engine.kernels.gemm;

import dev.tessera.engine.kernels.Epilogue;
import java.lang.foreign.MemorySegment;

/**
 * The register-blocked heart of GEMM: an mr x nr tile of C from an A micro-panel (kc x mr) and a B micro-panel (kc x nr,
 * row of nr per k). Offsets in floats. Implementations hold the whole tile in registers.
 */
public interface MicroKernel {
    int mr();

    int nr();

    /**
     * C[mr x nr] = Ap * Bp (C is overwritten, never read; the driver merges any beta). Ap is packed on the heap, mr
     * floats per k step from apOff: A's scalars read from a float[] keep the method small enough for C1 (see the
     * generator). B's nr floats of step p are at bpOff + p * bs: bs = nr for a packed panel, or B's row stride when
     * its rows are read in place.
     */
    void compute(int kc, float[] ap, int apOff, MemorySegment bp, long bpOff, long bs, MemorySegment c, long cOff, long ldc);

    /**
     * As {@link #compute} but with A as mr rows of kc floats, rs apart, from aOff: rows of A copied whole, which is
     * cheaper than interleaving them.
     */
    void computeRows(int kc, float[] a, int aOff, int rs, MemorySegment bp, long bpOff, long bs, MemorySegment c, long cOff, long ldc);

    /**
     * Whether the driver should hand this kernel A as rows ({@link #computeRows}) where it can, rather than packed into
     * panels ({@link #compute}): whichever of the two C2 compiles without spilling accumulators.
     */
    boolean prefersRowsOfA();

    /**
     * Packs B rows into panels of nr columns, kc*nr floats each: bp[dst + (j/nr)*nr*kc + p*nr + j%nr] = b[src + p*ldb + j]
     * for p < kc, j < cols; 0 up to whole panels. Offsets in floats.
     */
    void packB(MemorySegment b, long src, long ldb, int kc, int cols, MemorySegment bp, long dst);

    /**
     * Packs B stored transposed (column j of B is a run of floats, ldb apart from the next) into the panels of
     * {@link #packB}: bp[dst + (j/nr)*nr*kc + p*nr + j%nr] = b[src + j*ldb + p] for p < kc, j < cols; 0 up to whole
     * panels. Offsets in floats.
     */
    void packBT(MemorySegment b, long src, long ldb, int kc, int cols, MemorySegment bp, long dst);

    /**
     * Packs A as stored (rows lda apart) into panels of mr rows: ap[dst + (i/mr)*mr*kc + p*mr + i%mr] =
     * alpha * a[src + i*lda + p] for p < kc, i < rows; zero up to whole panels. mr may be another kernel's. May write
     * scratch values past a panel's end that the next panel overwrites, never past the last panel.
     */
    void packA(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst);

    /**
     * Packs A transposed (each k step a run of rows) into panels of mr rows: ap[dst + (i/mr)*mr*kc + p*mr + i%mr] =
     * alpha * a[src + p*lda + i] for p < kc, i < rows; zero up to whole panels. mr may be another kernel's.
     */
    void packAT(MemorySegment a, long src, long lda, int kc, int rows, int mr, float alpha, float[] ap, int dst);

    /** C[rows x cols] = tile (rows nr apart) + beta * C; beta == 0 does not read C. */
    void merge(MemorySegment tile, int rows, int cols, float beta, MemorySegment c, long cOff, long ldc);

    /** Applies the epilogue to rows [i0, i0+rows) and columns [j0, j0+cols) of C (absolute indices into the epilogue's vectors). */
    void epilogue(Epilogue ep, MemorySegment c, long cOff, long ldc, int i0, int rows, int j0, int cols);
}
