package dev.tessera.engine.kernels.gemm;

import dev.tessera.engine.kernels.CacheLines;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * BLIS-style GEMM: C = alpha op(A) op(B) + beta C as packing plus cache blocking around one micro-kernel.
 *
 * <p>Work is split over the kernel pool as a grid of C blocks whose edges are multiples of the micro-tile. Each worker
 * packs its whole row range of A once per K block (so A is never packed twice by one worker), then for each NC column
 * block packs B (a transposed one; B as stored is read in place, rows ldb apart) and sweeps micro-tiles: for each A
 * micro-panel across all B micro-panels of the block (from L2).
 * Partial edge tiles are computed into a small tile buffer and merged, so the micro-kernel itself has no edge cases.
 */
public final class GemmDriver {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final Arena BUFFERS = Arena.ofShared();

    private final MicroKernel uk;
    private final MicroKernel edge;
    private final Blocking blk;
    private final int mr, nr;
    private final ThreadLocal<Buffers> buffers = ThreadLocal.withInitial(Buffers::new);
    /**
     * B not transposed is read in place, its rows ldb apart, instead of packed into panels first: the packing was a
     * copy of every weight gradient's B (the output gradient, tokens x features) per product, ~5% of a training step.
     * {@code -Dtessera.gemm.directB=false} packs it as before, for comparisons.
     */
    private final boolean directB = !"false".equals(System.getProperty("tessera.gemm.directB"));
    /** The kernel's choice of A as rows or packed; {@code -Dtessera.gemm.rowsOfA=true|false} overrides it for comparisons. */
    private final boolean rowsOfA;

    public GemmDriver(MicroKernel uk, Blocking blk) {
        this(uk, null, blk);
    }

    /**
     * With {@code edge}, a kernel of fewer rows (same nr) for the last rows of A when they fit it: M = 197 (a ViT's
     * tokens) leaves 5 rows after 16 panels of 12, which the 12-row kernel would compute as 12.
     */
    public GemmDriver(MicroKernel uk, MicroKernel edge, Blocking blk) {
        if (edge != null && (edge.nr() != uk.nr() || edge.mr() >= uk.mr())) throw new IllegalArgumentException("edge kernel must be shorter with the same nr");
        this.edge = edge;
        this.uk = uk;
        this.blk = blk;
        this.mr = uk.mr();
        this.nr = uk.nr();
        String rows = System.getProperty("tessera.gemm.rowsOfA");
        this.rowsOfA = rows == null ? uk.prefersRowsOfA() : Boolean.parseBoolean(rows);
    }

    public Blocking blocking() { return blk; }

    public int nr() { return nr; }

    /** Packs op(B) (k x n) into dst in {@link dev.tessera.engine.kernels.PackedMatrix}'s layout, K blocks of this driver's kc. */
    public dev.tessera.engine.kernels.PackedMatrix pack(boolean transB, int k, int n, MemorySegment b, long bOff, long ldb,
                                                        MemorySegment dst, long dstOff, String by) {
        int kcMax = blk.kc();
        long npad = (long) (n + nr - 1) / nr * nr;
        int kBlocks = (k + kcMax - 1) / kcMax;
        // Panels of one K block are independent: spread (block, column chunk) over the pool.
        int chunk = Math.max(nr, blk.nc() / nr * nr);
        int chunks = (n + chunk - 1) / chunk;
        Parallel.forEach(kBlocks * chunks, t -> {
            int q = t / chunks, jc = (t % chunks) * chunk, pc = q * kcMax, kc = Math.min(kcMax, k - pc), nc = Math.min(chunk, n - jc);
            packB(transB, b, bOff, ldb, jc, nc, pc, kc, dst.asSlice((dstOff + pc * npad + (long) jc * kc) * 4, (long) ((nc + nr - 1) / nr) * nr * kc * 4));
        }, b, dst);
        return new dev.tessera.engine.kernels.PackedMatrix(dst, dstOff, k, n, kcMax, nr, by);
    }

    /** C = A B with B pre-packed: {@link #gemm}'s blocking without the packing of B. */
    public void gemmPacked(int m, int n, int k, MemorySegment a, long aOff, long lda, dev.tessera.engine.kernels.PackedMatrix b,
                           MemorySegment c, long cOff, long ldc, Epilogue ep) {
        if (m <= 0 || n <= 0) return;
        if (b.kc() != blk.kc() || b.nr() != nr) throw new IllegalArgumentException("matrix packed with kc " + b.kc() + ", nr " + b.nr() + " for a driver of kc " + blk.kc() + ", nr " + nr);
        int mTiles = (m + mr - 1) / mr, nTiles = (n + nr - 1) / nr;
        long flops = 2L * m * n * k;
        int threads = flops < 2_000_000 || Parallel.inParallelRegion() || !Parallel.shareable(a, b.segment(), c) ? 1 : Parallel.threads();
        // Without B packing, splitting N costs nothing extra and splitting M re-reads B: prefer N.
        int tn = Math.min(threads, nTiles), tm = Math.max(1, threads / tn);
        // Every column task takes every row of A: pack it once for all and cut N finer, for balance. With B pre-packed
        // A is packed even for a kernel that otherwise takes rows (block): AVX-512's 12-row kernel ran ViT-B/16 in
        // 220 / 230 ms best / median with packed A against 236 / 244 with rows (Zen 5, one thread, one JVM), 128 /
        // 130 against 131 / 132 at two; training's products (B not pre-packed) were 2-4% slower so, and keep rows.
        boolean shareA = tn > 1 && (long) mTiles * mr * k * 4 <= SHARED_PACK_LIMIT;
        Epilogue e = ep == null || ep.isNone() ? null : ep;
        if (shareA && GUIDED) {
            // One region: the first tasks pack A a panel each, the rest compute column tasks once every panel is
            // packed. Tasks are handed out in order, so a thread waiting there waits only for packs the other
            // threads are running: a separate packing region cost a hand-over, and its four big tasks left a
            // thread idle while the other packed (JFR: 2% of two-thread ViT-B/16 samples each way).
            int kBlocks = (k + blk.kc() - 1) / blk.kc(), packs = FUSED_PACK ? kBlocks * mTiles : 0;
            float[] packedA = FUSED_PACK ? buffers.get().shared((long) mTiles * mr * k)
                    : packShared(false, m, k, 1f, a, aOff, lda, threads);
            int[] cuts = guidedCuts(nTiles, threads, cutUnit(mTiles, k));
            java.util.concurrent.atomic.AtomicInteger packed = new java.util.concurrent.atomic.AtomicInteger();
            Parallel.forEach(packs + cuts.length - 1, t -> {
                if (t < packs) {
                    try {
                        packSharedPanels(false, a, aOff, lda, m, k, 1f, packedA, t / mTiles, t % mTiles, t % mTiles + 1);
                    } finally {
                        packed.incrementAndGet();  // counted even when it failed: the job then rethrows, nobody hangs
                    }
                    return;
                }
                while (packed.get() < packs) Thread.onSpinWait();
                int ct = t - packs, n0 = cuts[ct] * nr, n1 = Math.min(n, cuts[ct + 1] * nr);
                block(false, false, 0, m, n0, n1, k, 1f, a, aOff, lda, null, 0, 0, 0f, c, cOff, ldc, e, packedA, mTiles, b);
            });
            return;
        }
        float[] packedA = shareA ? packShared(false, m, k, 1f, a, aOff, lda, threads) : null;
        int tasksN = shareA ? Math.min(nTiles, threads * TASKS_PER_THREAD) : tn;
        Parallel.forEach(tm * tasksN, t -> {
            int ti = t / tasksN, tj = t % tasksN;
            int m0 = split(mTiles, tm, ti) * mr, m1 = Math.min(m, split(mTiles, tm, ti + 1) * mr);
            int n0 = split(nTiles, tasksN, tj) * nr, n1 = Math.min(n, split(nTiles, tasksN, tj + 1) * nr);
            if (m0 < m1 && n0 < n1) block(false, false, m0, m1, n0, n1, k, 1f, a, aOff, lda, null, 0, 0, 0f, c, cOff, ldc, e, packedA, mTiles, b);
        });
    }

    private final class Buffers {
        MemorySegment b = MemorySegment.NULL;
        float[] a = new float[0], shared = new float[0];

        /** All of A packed at once, read by every worker: owned by the calling thread. */
        float[] shared(long floats) {
            if (shared.length < floats) shared = new float[Math.toIntExact(floats)];
            return shared;
        }

        final MemorySegment tile = OffHeap.allocateFloats(BUFFERS, (long) mr * nr);

        float[] a(long floats) {
            if (a.length < floats) a = new float[Math.toIntExact(floats)];
            return a;
        }

        MemorySegment ct = MemorySegment.NULL;
        float[] ctHeap = new float[0], row = new float[0];

        /** C^T of {@link #gemmTransposed}; a block of its columns on the heap, read down into rows of C. */
        MemorySegment ct(long floats) {
            if (ct.byteSize() < floats * 4) ct = OffHeap.allocateFloats(BUFFERS, floats);
            return ct;
        }

        float[] ctHeap(int floats) { return ctHeap.length >= floats ? ctHeap : (ctHeap = new float[floats]); }

        float[] row(int floats) { return row.length >= floats ? row : (row = new float[floats]); }

        MemorySegment b(long floats) {
            if (b.byteSize() < floats * 4) b = OffHeap.allocateFloats(BUFFERS, floats);
            return b;
        }
    }

    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     MemorySegment a, long aOff, long lda, MemorySegment b, long bOff, long ldb,
                     float beta, MemorySegment c, long cOff, long ldc, Epilogue ep) {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f) {
            scaleC(m, n, beta, c, cOff, ldc);
            if (ep != null && !ep.isNone()) uk.epilogue(ep, c, cOff, ldc, 0, m, 0, n);
            return;
        }
        int mTiles = (m + mr - 1) / mr, nTiles = (n + nr - 1) / nr;
        long flops = 2L * m * n * k;
        if (transA && !transB && m >= 2 * n && k >= 512 && flops >= 50_000_000 && (ep == null || ep.isNone())) {
            gemmTransposed(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        int threads = flops < 2_000_000 || Parallel.inParallelRegion() || !Parallel.shareable(a, b, c) ? 1 : Parallel.threads();
        int[] grid = grid(threads, mTiles, nTiles, m, n, k);
        int tm = grid[0], tn = grid[1];
        Epilogue e = ep == null || ep.isNone() ? null : ep;
        if (tm * tn == 1) {
            block(transA, transB, 0, m, 0, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, e, null, mTiles, null);
            return;
        }
        // Workers in one grid row would each pack the same rows of A: pack all of A once, together, and share it
        // (rows copied whole instead, where the kernel takes them, cost each worker only a bulk copy).
        float[] pa = tn > 1 && (alpha != 1f || !rowsOfA) && (long) mTiles * mr * k * 4 <= blk.sharedPackBytes()
                ? packShared(transA, m, k, alpha, a, aOff, lda, threads) : null;
        Parallel.forEach(tm * tn, t -> {
            int ti = t / tn, tj = t % tn;
            int m0 = split(mTiles, tm, ti) * mr, m1 = Math.min(m, split(mTiles, tm, ti + 1) * mr);
            int n0 = split(nTiles, tn, tj) * nr, n1 = Math.min(n, split(nTiles, tn, tj + 1) * nr);
            if (m0 < m1 && n0 < n1) block(transA, transB, m0, m1, n0, n1, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, e, pa, mTiles, null);
        });
    }

    /** All of op(A) packed once by the whole pool, [K block][panel][p][i], for workers that would each pack the same rows. */
    private float[] packShared(boolean transA, int m, int k, float alpha, MemorySegment a, long aOff, long lda, int threads) {
        int mTiles = (m + mr - 1) / mr;
        float[] shared = buffers.get().shared((long) mTiles * mr * k);
        int kcMax = blk.kc(), kBlocks = (k + kcMax - 1) / kcMax, groups = Math.max(1, Math.min(mTiles, 2 * threads));
        Parallel.forEach(kBlocks * groups, t -> {
            int g = t % groups, p0 = split(mTiles, groups, g), p1 = split(mTiles, groups, g + 1);
            if (p0 < p1) packSharedPanels(transA, a, aOff, lda, m, k, alpha, shared, t / groups, p0, p1);
        }, a);
        return shared;
    }

    /** Panels [p0, p1) of K block q of op(A) into the all-K pack {@link #packShared} lays out. */
    private void packSharedPanels(boolean transA, MemorySegment a, long aOff, long lda, int m, int k, float alpha, float[] shared, int q, int p0, int p1) {
        int mTiles = (m + mr - 1) / mr, pc = q * blk.kc(), kc = Math.min(blk.kc(), k - pc);
        packA(transA, a, aOff, lda, p0 * mr, Math.min(m, p1 * mr), pc, kc, alpha, shared, mTiles * mr * pc + p0 * mr * kc, mr);
    }

    /**
     * Column tasks per thread for a pre-packed B once A is packed for all: with a static half each, one core waited
     * for the other on a shared VM; four apiece, taken as they come, made ViT-B/16 at batch 8 on two threads 3-6%
     * faster by the median in three side-by-side runs (Zen 3). {@code -Dtessera.gemm.tasksPerThread=1} for comparisons.
     */
    private static final int TASKS_PER_THREAD = Integer.getInteger("tessera.gemm.tasksPerThread", 4);

    /**
     * Column tasks of decreasing size for a pre-packed B ({@link #guidedCuts}) instead of TASKS_PER_THREAD equal ones:
     * with equal tasks a worker waited for the other's last one (JFR: 10% of two-thread ViT-B/16 samples in the pool's
     * waits). One JVM, alternating, two threads (Zen 5), medians guided / equal: 197x2304x768 2.16 / 2.28 ms,
     * 197x768x768 0.78 / 0.81, 197x3072x768 2.80 / 2.81, 197x768x3072 3.27 / 3.33. {@code -Dtessera.gemm.guided=false}
     * for comparisons.
     */
    private static final boolean GUIDED = !"false".equals(System.getProperty("tessera.gemm.guided"));
    /** A packed by the compute region's first tasks; {@code -Dtessera.gemm.fusedPack=false} packs it in a region of its own. */
    private static final boolean FUSED_PACK = !"false".equals(System.getProperty("tessera.gemm.fusedPack"));

    /**
     * Cuts tiles into tasks of decreasing size, each a share of what is left (guided self-scheduling): the big first
     * tasks keep the per-task costs few (each re-reads all of A), the small last ones let the threads finish together.
     */
    public static int[] guidedCuts(int tiles, int threads) {
        return guidedCuts(tiles, threads, 1);
    }

    /** {@link #guidedCuts} in units of {@code unit} tiles (the last unit may be short). */
    public static int[] guidedCuts(int tiles, int threads, int unit) {
        int units = (tiles + unit - 1) / unit;
        int[] cuts = new int[units + 1];
        int count = 0;
        for (int start = 0; start < units; ) {
            cuts[count++] = start * unit;
            start += (units - start + 2 * threads - 1) / (2 * threads);
        }
        cuts[count++] = tiles;
        return java.util.Arrays.copyOf(cuts, count);
    }

    /**
     * Tiles per unit of a pre-packed product's column tasks: one while a K block of A fits in L2, else a whole NC
     * block. Each task streams all of A once per NC block it starts, so tasks of single tiles multiplied the passes
     * over an A that comes from L3 or memory: batch 8's 1576 rows (4.8 MB per K block). {@code
     * -Dtessera.gemm.tileCuts=true} cuts single tiles always, for comparisons.
     */
    private int cutUnit(int mTiles, int k) {
        int kc = Math.min(blk.kc(), k);
        if (TILE_CUTS || (long) mTiles * mr * kc * 4 <= blk.l2Bytes()) return 1;
        return Math.max(1, blk.nc(kc) / nr);
    }

    private static final boolean TILE_CUTS = Boolean.getBoolean("tessera.gemm.tileCuts");

    /**
     * The largest all-K pack of A the calling thread keeps for that (on the heap, for the thread's life): ViT-B/16's
     * widest at batch 8 (1576 x 3072) is 19 MB. Larger batches pack per worker and K block, as before.
     */
    private static final long SHARED_PACK_LIMIT = 32L << 20;

    /**
     * C = alpha A^T B + beta C as C^T = alpha B^T A into a scratch, added transposed: for a weight gradient with many
     * more rows than columns (an MLP's second layer, 768 x 192 over 6400 tokens), whose rows would be A's packed
     * panels, too many to stay in L2 between column blocks. The transposed product packs the few columns instead:
     * 2 threads, 768x192x6400 ran 211-218 GFLOPS, the same product transposed (192x768x6400) 263-280.
     */
    private void gemmTransposed(int m, int n, int k, float alpha, MemorySegment a, long aOff, long lda,
                                MemorySegment b, long bOff, long ldb, float beta, MemorySegment c, long cOff, long ldc) {
        MemorySegment ct = buffers.get().ct((long) n * m);
        gemm(true, false, n, m, k, alpha, b, bOff, ldb, a, aOff, lda, 0f, ct, 0, m, null);
        // Added back in blocks of rows, spread over the pool: on the calling thread alone this left the other core idle
        // for about 1% of a D = 192 training step.
        int blocks = (m + TRANSPOSE_ROWS - 1) / TRANSPOSE_ROWS;
        Parallel.forEach(blocks, q -> addTransposed(ct, m, n, q * TRANSPOSE_ROWS, Math.min(m, (q + 1) * TRANSPOSE_ROWS), beta, c, cOff, ldc), ct, c);
    }

    private static final int TRANSPOSE_ROWS = 32;

    /**
     * C[i, j] = beta C[i, j] + ct[j, i] for rows [i0, i1): the block's columns of C^T are bulk-copied to the heap first
     * (one run of i1 - i0 floats per j), then each row of C is assembled from them in L1 and written in one piece.
     */
    private void addTransposed(MemorySegment ct, int m, int n, int i0, int i1, float beta, MemorySegment c, long cOff, long ldc) {
        Buffers buf = buffers.get();
        int rows = i1 - i0;
        float[] cols = buf.ctHeap(rows * n), row = buf.row(n);
        for (int j = 0; j < n; j++) MemorySegment.copy(ct, F, ((long) j * m + i0) * 4, cols, j * rows, rows);
        for (int r = 0; r < rows; r++) {
            long ci = cOff + (long) (i0 + r) * ldc;
            if (beta != 0f) MemorySegment.copy(c, F, ci * 4, row, 0, n);
            for (int j = 0; j < n; j++) row[j] = (beta == 0f ? 0f : beta * row[j]) + cols[j * rows + r];
            MemorySegment.copy(row, 0, c, F, ci * 4, n);
        }
    }

    private static int split(int tiles, int parts, int i) {
        return (int) ((long) tiles * i / parts);
    }

    /**
     * Chooses tm x tn workers (tm * tn = threads) minimising the busiest worker's cost: its micro-tiles plus the packing
     * it repeats (every worker in a grid row packs the same A rows; every one in a column, the same B columns).
     */
    static int[] grid(int threads, int mTiles, int nTiles, int m, int n, int k) {
        int bestM = 1, bestN = 1;
        double best = Double.MAX_VALUE;
        for (int tn = 1; tn <= threads; tn++) {
            if (threads % tn != 0) continue;
            int tm = threads / tn;
            if (tm > mTiles || tn > nTiles) continue;
            double tiles = Math.ceil((double) mTiles / tm) * Math.ceil((double) nTiles / tn);
            double work = tiles * 12 * 32 * k * 2 / 32.0;         // FMA cycles, roughly, at 32 flops per cycle
            double pack = (double) m / tm * k + (double) n / tn * k; // elements packed by one worker, ~1 cycle each
            double cost = work + pack;
            if (cost < best) { best = cost; bestM = tm; bestN = tn; }
        }
        return new int[] {bestM, bestN};
    }

    private void block(boolean transA, boolean transB, int m0, int m1, int n0, int n1, int k, float alpha,
                       MemorySegment a, long aOff, long lda, MemorySegment b, long bOff, long ldb,
                       float beta, MemorySegment c, long cOff, long ldc, Epilogue ep, float[] packedA, int mTiles,
                       dev.tessera.engine.kernels.PackedMatrix packedB) {
        Buffers buf = buffers.get();
        int kcMax = blk.kc(), ncMax = blk.nc(Math.min(kcMax, k));
        int mRows = m1 - m0;
        int mPanels = (mRows + mr - 1) / mr;
        int kcA = Math.min(kcMax, k), rsMax = rowStride(kcA);
        float[] ap = packedA != null ? packedA : buf.a((long) mPanels * mr * rsMax);
        MemorySegment bp = packedB != null ? packedB.segment() : buf.b((long) ((Math.min(ncMax, n1 - n0) + nr - 1) / nr) * nr * Math.min(kcMax, k));
        long npad = packedB != null ? packedB.paddedN() : 0;
        MemorySegment tile = buf.tile;
        boolean bInPlace = packedB == null && !transB && directB && b.isNative() && blk.fitsInPlace(ldb, Math.min(kcMax, k), Math.min(ncMax, n1 - n0));
        for (int pc = 0; pc < k; pc += kcMax) {
            int kc = Math.min(kcMax, k - pc);
            float betaEff = pc == 0 ? beta : 1f;
            boolean last = pc + kc >= k;
            // With a shared pack, block pc starts after all earlier blocks, and this worker's rows at panel m0 / mr.
            int apBase = packedA != null ? mTiles * mr * pc + (m0 / mr) * mr * kc : 0;
            // Rows of A (not transposed, alpha 1) are copied whole, rs apart, instead of interleaved: a bulk copy per
            // row, for a kernel whose rows variant is its fast one (not AVX2's, see gen_microkernels.py). Only a short
            // last panel the edge kernel takes is packed, zero-padded, after them.
            boolean rowsMode = packedA == null && packedB == null && alpha == 1f && !transA && rowsOfA;
            int rs = rowStride(kc), fullRows = mRows / mr * mr;
            // A short last panel goes to the edge kernel, packed for it, whichever way the full panels take A.
            boolean edgeTail = packedA == null && edge != null && mRows - fullRows > 0 && mRows - fullRows <= edge.mr();
            boolean edgeRows = rowsMode && edgeTail;
            if (rowsMode) {
                // Other short last panels are copied as rows too, zero rows after them, for computeRows. The
                // packed-panel kernel would be called once per product there (a classifier head of 128 rows leaves
                // 8), too rarely for C2 to take it soon: it ran boxed in C1 code.
                int asRowsEnd = edgeRows ? fullRows : mPanels * mr;
                for (int i = 0; i < asRowsEnd; i++) {
                    if (i < mRows) MemorySegment.copy(a, F, (aOff + (long) (m0 + i) * lda + pc) * 4, ap, i * rs, kc);
                    else java.util.Arrays.fill(ap, i * rs, i * rs + kc, 0f);
                }
                if (edgeRows) packA(false, a, aOff, lda, m0 + fullRows, m1, pc, kc, 1f, ap, fullRows * rs, edge.mr());
            } else if (packedA == null) {
                packA(transA, a, aOff, lda, m0, edgeTail ? m0 + fullRows : m1, pc, kc, alpha, ap, 0, mr);
                if (edgeTail) packA(transA, a, aOff, lda, m0 + fullRows, m1, pc, kc, alpha, ap, fullRows * kc, edge.mr());
            }
            for (int jc = n0; jc < n1; jc += ncMax) {
                int nc = Math.min(ncMax, n1 - jc);
                // A pre-packed B is read in place: panel (pc, j) at off + pc * paddedN + j * kc.
                long bBase = packedB != null ? packedB.off() + pc * npad + (long) jc * kc : bInPlace ? bOff + (long) pc * ldb + jc : 0;
                int tail = nc % nr;
                // Read in place, B's whole panels need no copy; only a last, narrower one is packed (zero padded),
                // since its rows read in place would run past the end of B.
                if (bInPlace && tail != 0) uk.packB(b, bOff + (long) pc * ldb + jc + nc - tail, ldb, kc, tail, bp, 0);
                if (packedB == null && !bInPlace) packB(transB, b, bOff, ldb, jc, nc, pc, kc, bp);
                for (int ir = 0; ir < mRows; ir += mr) {
                    int rows = Math.min(mr, mRows - ir);
                    if (betaEff != 0f && TOUCH_C) touch(c, cOff + (long) (m0 + ir) * ldc + jc, ldc, rows, nc);
                    boolean asRows = rowsMode && (rows == mr || !edgeRows);
                    int apOff = asRows ? ir * rs : rowsMode ? fullRows * rs : apBase + ir * kc;
                    int i = m0 + ir;
                    for (int jr = 0; jr < nc; jr += nr) {
                        int cols = Math.min(nr, nc - jr);
                        boolean inPlace = bInPlace && cols == nr;
                        MemorySegment bSeg = inPlace ? b : bp;
                        long bpOff = inPlace ? bBase + jr : bInPlace ? 0 : bBase + (long) (jr / nr) * nr * kc;
                        long bs = inPlace ? ldb : nr;
                        int j = jc + jr;
                        long ct = cOff + (long) i * ldc + j;
                        // One kernel for every tile, edges included: a second, rarely called kernel would run
                        // un-intrinsified (boxing every vector) until C2 got round to it, which took seconds.
                        // The kernel only overwrites: full tiles with beta == 0 go straight to C, everything else
                        // (edges, accumulation) through the L1-resident tile buffer and a merge. Accumulating in
                        // registers from C was 1-3% faster but made a method C1 could not compile (see gen_microkernels.py).
                        boolean full = cols == nr && rows == mr;
                        boolean toC = betaEff == 0f && full;
                        MemorySegment dst = toC ? c : tile;
                        long dOff = toC ? ct : 0, dLd = toC ? ldc : nr;
                        if (asRows) uk.computeRows(kc, ap, apOff, rs, bSeg, bpOff, bs, dst, dOff, dLd);
                        else if (edgeTail && rows < mr) edge.compute(kc, ap, apOff, bSeg, bpOff, bs, dst, dOff, dLd);
                        else uk.compute(kc, ap, apOff, bSeg, bpOff, bs, dst, dOff, dLd);
                        if (!toC) uk.merge(tile, rows, cols, betaEff, c, ct, ldc);
                    }
                    // Over the whole mr x nc block, still in L1/L2: per 12x32 tile, the activation's fixed costs
                    // (a call, a scratch lookup, a block loop) were paid 12 times as often.
                    if (last && ep != null) uk.epilogue(ep, c, cOff, ldc, i, rows, jc, nc);
                }
            }
        }
    }

    /**
     * Reads the rows x cols block of C at off into the cache, every line's load independent of the others: a block
     * accumulated into (a weight gradient summed over a batch's chunks) has left the cache since the last chunk, and
     * the merge of each tile then waited for its own rows. Touched together, the misses overlap.
     */
    private static void touch(MemorySegment c, long off, long ldc, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long row = (off + r * ldc) * 4;
            CacheLines.read(c, row, row + cols * 4L);
        }
    }

    static final boolean TOUCH_C = !"false".equals(System.getProperty("tessera.gemm.touchC"));

    /**
     * Floats between copied rows of A: kc plus one cache line, so that the mr rows the micro-kernel streams at once
     * never share L1 sets the way rows 4 KiB apart do (lda = 1024 or 3072 read in place halved the speed).
     */
    private static int rowStride(int kc) {
        return (kc + 15) / 16 * 16 + 16;
    }

    /** A rows [m0, m1) x K [pc, pc+kc) into mr-row micro-panels from ap[apBase]: [panel][p][i], zero padded, scaled by alpha. */
    private void packA(boolean transA, MemorySegment a, long aOff, long lda, int m0, int m1, int pc, int kc, float alpha, float[] ap, int apBase, int mr) {
        int rowsTotal = m1 - m0;
        if (transA) {
            // A(i, p) at aOff + p*lda + i: each k step is a run of rows, packed with vectors, zero padded.
            uk.packAT(a, aOff + (long) pc * lda + m0, lda, kc, rowsTotal, mr, alpha, ap, apBase);
            return;
        }
        // A(i, p) at aOff + i*lda + p: rows read contiguously, interleaved mr at a time.
        uk.packA(a, aOff + (long) m0 * lda + pc, lda, kc, rowsTotal, mr, alpha, ap, apBase);
    }

    /** B K [pc, pc+kc) x columns [j0, j0+nc) into nr-column micro-panels: bp[panel][p][j], zero padded. */
    private void packB(boolean transB, MemorySegment b, long bOff, long ldb, int j0, int nc, int pc, int kc, MemorySegment bp) {
        if (!transB) {
            // B(p, j) at bOff + p*ldb + j: all nc columns of a k step at once, nc contiguous floats, packed with vectors
            // and zero padded by the kernel's packer.
            uk.packB(b, bOff + (long) pc * ldb + j0, ldb, kc, nc, bp, 0);
            return;
        }
        // B(p, j) at bOff + j*ldb + p: each stored row (a column of B, a row of PyTorch's (out, in) weight, or of W
        // for an input gradient dx = dy W^T) is a run of k steps, turned into panels in register blocks.
        uk.packBT(b, bOff + (long) j0 * ldb + pc, ldb, kc, nc, bp, 0);
    }

    private static void scaleC(int m, int n, float beta, MemorySegment c, long cOff, long ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long ci = cOff + (long) i * ldc + j;
                c.setAtIndex(F, ci, beta == 0f ? 0f : beta * c.getAtIndex(F, ci));
            }
        }
    }
}
