package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.GT;

import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.gemm.MicroKernel;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Attention with the queries in the vector lanes. A block of W = 2 vectors of queries sweeps the keys in tiles of BC
 * and works on transposed score tiles, S^T[BC x W] = K Q^T:
 * <ul>
 *   <li>the online softmax runs down the tile's rows, so the running max, the rescaling factor and the row sums are
 *       lane-wise vector operations (no horizontal reduction, no scalar exp per row);</li>
 *   <li>the products are register-blocked like the GEMM micro-kernel, MR rows by 2 vectors (16 accumulators): S^T
 *       broadcasts MR keys of K^T against Q^T; O^T[d x W] += V^T P^T broadcasts MR head-dim entries of a V row against
 *       P^T's rows, which are S^T's rows after exp; and in the backward pass dV += P dO and dK += dS Q reduce over the
 *       lanes, broadcasting P^T's or dS^T's entries against the block's rows of dO or Q.</li>
 * </ul>
 * Q and K (and dO and V for the backward pass) are transposed once per head, O^T and dQ^T back once per query block,
 * in L x L register blocks ({@link SimdTranspose}). Memory per head is O(N d). The backward pass
 * recomputes P from the forward's log-sum-exp (FlashAttention-2). An additive mask is transposed once per call and
 * added to the score tiles. The row-oriented {@link FusedAttention} remains the path for attention dropout.
 */
final class QueryLaneAttention {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    /** Queries per block: the two vectors of the register tile. */
    private static final int W = 2 * L;
    /** Keys per score panel and head-dim rows per output panel: MR x 2 vectors = 16 accumulators. */
    private static final int MR = 8;
    /** Keys per tile: S^T[BC x W] stays in L1 (8 KiB at 512 bits). 32 and 128 were slower here (N = 197 and 1024). */
    private static final int BC = 8 * MR;
    /** Offsets 0, W, 2W, ...: L rows of a transposed block, for the gathers of widths other than 16 lanes. */
    private static final int[] BLOCK_STRIDE = java.util.stream.IntStream.range(0, L).map(i -> i * W).toArray();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final Arena ARENA = Arena.ofShared();

    private static final class Scratch {
        MemorySegment seg = MemorySegment.NULL;
        float[] rows = new float[0], cols = new float[0];
        /** One L x L block on its way through {@link SimdTranspose}. */
        final float[] block = new float[L * L];

        /** The caller's transposed mask, read by every worker of one call. */
        MemorySegment maskT = MemorySegment.NULL;

        MemorySegment get(long floats) {
            if (seg.byteSize() < floats * 4) seg = OffHeap.allocateFloats(ARENA, floats);
            return seg;
        }

        int[] stride = new int[L];
        /** L floats to spill an accumulator into for SimdMath.sum. */
        final float[] lanes = new float[L];
        /** One block's row sums on their way to the log-sum-exp. */
        final float[] sums = new float[W];

        float[] rows(int n) { return rows.length >= n ? rows : (rows = new float[n]); }

        /** K's and V^T's panels for the GEMM micro-kernel (its A operand lives on the heap). */
        float[] kPanels = new float[0], vPanels = new float[0];

        float[] kPanels(int n) { return kPanels.length >= n ? kPanels : (kPanels = new float[n]); }

        float[] vPanels(int n) { return vPanels.length >= n ? vPanels : (vPanels = new float[n]); }

        /** The backward's third set of panels (K^T), and heap copies of a tile of P^T and of dS^T. */
        float[] kTPanels = new float[0], pTile = new float[0], dsTile = new float[0];

        float[] kTPanels(int n) { return kTPanels.length >= n ? kTPanels : (kTPanels = new float[n]); }

        float[] pTile(int n) { return pTile.length >= n ? pTile : (pTile = new float[n]); }

        float[] dsTile(int n) { return dsTile.length >= n ? dsTile : (dsTile = new float[n]); }

        /** Gather offsets 0, d, 2d, ...: one column of L rows of width d. */
        int[] stride(int d) {
            if (stride[1] != d) for (int i = 0; i < L; i++) stride[i] = i * d;
            return stride;
        }

        float[] cols(int n) { return cols.length >= n ? cols : (cols = new float[n]); }
    }

    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);
    /**
     * The GEMM micro-kernel, when the products of both passes go through it ({@link #forwardOnMicroKernel},
     * {@link #backwardOnMicroKernel}); null where the hand-written 8 x 2 panels below run.
     */
    private final MicroKernel micro;
    /** Short sequences' heads whole ({@link WholeHeadAttention}), with the same micro-kernel; null with the panels. */
    private final WholeHeadAttention whole;

    /**
     * A micro-kernel that takes packed panels of A also runs attention's products: on AVX2 (16 registers) the
     * 8 x 2 panels below need 16 accumulators plus operands, spill, and read their broadcasts through a bounds check per
     * float; the 6 x 2 GEMM kernel reads them from the heap and ran 80-85 GFLOPS on the same products where the panels
     * ran 45-55 (Zen 3); the backward pass at N = 1024 went from 173-184 to 114-121 ms (2 threads). The AVX-512 12 x 2
     * kernel prefers rows of A, so there the panels stay, as measured on Zen 4.
     */
    QueryLaneAttention(MicroKernel micro) {
        String products = System.getProperty("tessera.attention.products", "auto");  // auto | micro | panels, for tests and comparisons
        this.micro = products.equals("micro") || products.equals("auto") && !micro.prefersRowsOfA() ? micro : null;
        this.whole = this.micro == null ? null : new WholeHeadAttention(micro);
    }

    boolean onMicroKernel() { return micro != null; }

    private static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

    /**
     * A leading dimension of at least np floats that is an odd number of cache lines. K^T's and Q^T's rows are read down
     * a column, one per step of the head dimension: 1024 floats apart (N = 1024) they all fell in one set of L1. Skewed,
     * the forward pass at N = 1024 took 2.5-4% less time and the backward 4-6% (two threads, alternating, Zen 5).
     */
    private static int skewed(int np) {
        int lines = (np + 15) / 16;
        return (lines | 1) * 16;
    }

    /** Scratch of one head, in floats: K^T, Q^T, V rows, O^T of one block and one tile's share of it, the score tile, and four W-lane vectors (max, sum, rescaling, shift). */
    private record Layout(int n, int d, int npk, int npq, int lk, int lq, int dp, long kT, long qT, long vP, long oT, long pv, long st,
                          long max, long sum, long corr, long shift, long total) {
        static Layout of(int n, int d) {
            int npk = roundUp(n, MR), npq = roundUp(n, W), lk = skewed(npk), lq = skewed(npq), dp = roundUp(d, MR);
            long kT = 0, qT = kT + (long) d * lk, vP = qT + (long) d * lq, oT = vP + (long) npk * dp;
            long pv = oT + (long) dp * W, st = pv + (long) dp * W, max = st + (long) BC * W;
            return new Layout(n, d, npk, npq, lk, lq, dp, kT, qT, vP, oT, pv, st, max, max + W, max + 2 * W, max + 3 * W, max + 4 * W);
        }
    }

    void forward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                 float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        if (whole != null && whole.takes(s.tokens())) {
            whole.forward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, lse, lseOff);
            return;
        }
        if (micro != null) {
            forwardOnMicroKernel(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, lse, lseOff);
            return;
        }
        Layout lay = Layout.of(s.tokens(), s.headDim());
        MemorySegment mt = transposedMask(mask, maskOff, lay.n(), lay.npq());
        HeadSchedule.of(s).qkv(q, qOff, k, kOff, v, vOff).out(o, oOff).forEachHead((b, h) -> {
            int bh = b * s.heads() + h;
            Scratch room = scratch.get();
            MemorySegment w = room.get(lay.total());
            long base = b * s.sB() + h * s.sH();
            int n = lay.n(), d = lay.d(), npk = lay.npk(), npq = lay.npq(), dp = lay.dp();
            transpose(k, kOff + base, s.sN(), n, d, 1f, w, lay.kT(), lay.lk(), room);
            transpose(q, qOff + base, s.sN(), n, d, scale[h], w, lay.qT(), lay.lq(), room);
            packRows(v, vOff + base, s.sN(), n, d, w, lay.vP(), npk, dp);
            for (int i0 = 0; i0 < n; i0 += W) {
                fill(w, lay.max(), W, Float.NEGATIVE_INFINITY);
                fill(w, lay.sum(), W, 0f);
                fill(w, lay.oT(), (long) dp * W, 0f);
                for (int j0 = 0; j0 < npk; j0 += BC) {
                    int bc = Math.min(BC, npk - j0);
                    for (int p = 0; p < bc; p += MR) {
                        long panel = lay.st() + (long) p * W;
                        scoresPanel(w, lay.kT() + j0 + p, lay.lk(), lay.qT() + i0, lay.lq(), d, panel);
                        if (mt != null) addMaskRows(w, panel, mt, (long) (j0 + p) * npq + i0, npq, Math.min(MR, n - j0 - p));
                        // Keys past the end: -inf, so that they weigh 0.
                        for (int r = n - j0 - p; r < MR; r++) fill(w, panel + (long) r * W, W, Float.NEGATIVE_INFINITY);
                    }
                    softmaxTile(w, lay.st(), bc, lay.max(), lay.sum(), lay.corr(), lay.shift());
                    for (int c = 0; c < dp; c += MR) accumulatePanel(w, lay.vP() + (long) j0 * dp + c, dp, lay.st(), bc, lay.pv() + (long) c * W);
                    rescaleAdd(w, lay.oT(), lay.pv(), dp, lay.corr());
                }
                long orow = oOff + b * s.oB() + h * s.oH() + i0 * s.oN();
                finish(w, lay.oT(), d, lay.max(), lay.sum(), Math.min(W, n - i0), o, orow, s.oN(), lse, lseOff + (long) bh * n + i0, room);
            }
        }, q, k, v, mask, o, lse);
    }

    /**
     * Scratch of one head for {@link #forwardOnMicroKernel}, in floats: one block's Q^T (d x W, contiguous: the
     * micro-kernel's B), its O^T and one tile's share of it (dp x W), the score tile (bc keys x W), and the max, sum,
     * rescaling and shift lanes. K and V^T are packed on the heap ({@link Scratch#kPanels}).
     */
    private record MicroLayout(int n, int d, int mr, int npk, int dp, int bc, long kT, long qT, long oT, long pv, long st,
                               long max, long sum, long corr, long shift, long total) {
        static MicroLayout of(int n, int d, int mr) {
            int npk = roundUp(n, mr), dp = roundUp(d, mr), bc = mr * TILE_PANELS;
            long kT = 0, qT = kT + (long) d * npk, oT = qT + (long) d * W, pv = oT + (long) dp * W, st = pv + (long) dp * W, max = st + (long) bc * W;
            return new MicroLayout(n, d, mr, npk, dp, bc, kT, qT, oT, pv, st, max, max + W, max + 2 * W, max + 3 * W, max + 4 * W);
        }
    }

    /**
     * Panels of micro-kernel rows per key tile: 288 keys at 6 rows, 18 KiB of scores at 256 bits, a whole N = 197 head in
     * one tile. 16, 32 and 48 panels were within 5% of each other on Zen 3 (2 threads, N = 197 and 1024), 48 ahead.
     */
    private static final int TILE_PANELS = Integer.getInteger("tessera.attention.tilePanels", 48);

    /**
     * The forward pass with S^T = K Q^T and O^T += V^T P^T on the GEMM micro-kernel: K packed once per head into panels
     * of mr keys and V^T into panels of mr head-dim columns (its A, on the heap), Q^T one block of W queries at a time,
     * contiguous (its B; a whole-head Q^T with rows 1024 floats apart aliased in L1 and cost 10-40% at N = 1024).
     */
    private void forwardOnMicroKernel(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                      float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        int mr = micro.mr();
        MicroLayout lay = MicroLayout.of(s.tokens(), s.headDim(), mr);
        int npq = roundUp(lay.n(), W);
        MemorySegment mt = transposedMask(mask, maskOff, lay.n(), npq);
        HeadSchedule.of(s).qkv(q, qOff, k, kOff, v, vOff).out(o, oOff).forEachHead((b, h) -> {
            int bh = b * s.heads() + h;
            Scratch room = scratch.get();
            MemorySegment w = room.get(lay.total());
            long base = b * s.sB() + h * s.sH();
            int n = lay.n(), d = lay.d(), npk = lay.npk(), dp = lay.dp();
            float[] kp = room.kPanels(npk * d), vp = room.vPanels(dp * n);
            rowPanels(k, kOff + base, s.sN(), n, d, w, lay.kT(), npk, kp, room);
            micro.packAT(v, vOff + base, s.sN(), n, d, mr, 1f, vp, 0);
            for (int i0 = 0; i0 < n; i0 += W) {
                int rows = Math.min(W, n - i0);
                transpose(q, qOff + base + i0 * s.sN(), s.sN(), rows, d, scale[h], w, lay.qT(), W, room);
                fill(w, lay.max(), W, Float.NEGATIVE_INFINITY);
                fill(w, lay.sum(), W, 0f);
                fill(w, lay.oT(), (long) dp * W, 0f);
                for (int j0 = 0; j0 < npk; j0 += lay.bc()) {
                    int bc = Math.min(lay.bc(), npk - j0), keys = Math.min(bc, n - j0);
                    for (int p = 0; p < bc; p += mr) {
                        long panel = lay.st() + (long) p * W;
                        micro.compute(d, kp, (j0 + p) * d, w, lay.qT(), W, w, panel, W);
                        if (mt != null) addMaskRows(w, panel, mt, (long) (j0 + p) * npq + i0, npq, Math.min(mr, n - j0 - p));
                        for (int r = n - j0 - p; r < mr; r++) fill(w, panel + (long) r * W, W, Float.NEGATIVE_INFINITY);
                    }
                    softmaxTile(w, lay.st(), bc, lay.max(), lay.sum(), lay.corr(), lay.shift());
                    // Keys past n have P = 0 and no V panel entries: the product stops at the last key.
                    for (int c = 0; c < dp; c += mr) micro.compute(keys, vp, c * n + j0 * mr, w, lay.st(), W, w, lay.pv() + (long) c * W, W);
                    rescaleAdd(w, lay.oT(), lay.pv(), dp, lay.corr());
                }
                long orow = oOff + b * s.oB() + h * s.oH() + i0 * s.oN();
                finish(w, lay.oT(), d, lay.max(), lay.sum(), rows, o, orow, s.oN(), lse, lseOff + (long) bh * n + i0, room);
            }
        }, q, k, v, mask, o, lse);
    }

    /**
     * The n rows of x (d wide, sN apart) into the micro-kernel's panels of mr rows (its A, on the heap), by way of x^T
     * at w[xT] (npk wide): two vectorised passes, turned in registers and then runs of rows per column; the panels'
     * strided writes one float at a time cost 13% of the forward pass at N = 197.
     */
    private void rowPanels(MemorySegment x, long base, long sN, int n, int d, MemorySegment w, long xT, int npk, float[] panels, Scratch room) {
        transpose(x, base, sN, n, d, 1f, w, xT, npk, room);
        micro.packAT(w, xT, npk, d, n, micro.mr(), 1f, panels, 0);
    }

    /**
     * The additive mask (n x n, query by key) transposed to key by query, lanes padded to npq with zeros, in the
     * calling thread's scratch (workers only read it); null without a mask.
     */
    private MemorySegment transposedMask(MemorySegment mask, long maskOff, int n, int npq) {
        if (mask == null) return null;
        Scratch room = scratch.get();
        if (room.maskT.byteSize() < (long) n * npq * 4) room.maskT = OffHeap.allocateFloats(ARENA, (long) n * npq);
        transpose(mask, maskOff, n, n, n, 1f, room.maskT, 0, npq, room);
        return room.maskT;
    }

    /** st rows r < rows (W lanes each) += mask rows from mt at mrow, npq apart. */
    private static void addMaskRows(MemorySegment w, long st, MemorySegment mt, long mrow, int npq, int rows) {
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < W; h += L) {
                long o = (st + (long) r * W + h) * 4;
                FloatVector.fromMemorySegment(S, mt, (mrow + (long) r * npq + h) * 4, NO).add(FloatVector.fromMemorySegment(S, w, o, NO)).intoMemorySegment(w, o, NO);
            }
        }
    }

    // ---------------------------------------------------------------- backward

    /**
     * Scratch of one head for the backward pass, in floats: Q^T, dO^T, K^T, V^T; K rows; the dK and dV sums (rows
     * dw apart); one query block's Q and dO rows and its dQ^T sum; the raw score, P^T and dP^T/dS^T tiles; a buffer for
     * one tile's share of a sum; and per-query lanes of the log-sum-exp and D = rowsum(dO * O).
     */
    private record BackLayout(int n, int d, int npk, int npq, int lk, int lq, int dw, int d8, long qT, long doT, long kT, long vT, long kRows,
                              long dK, long dV, long qRows, long doRows, long dQT, long sr, long sp, long sd, long tmp,
                              long lse, long dot, long total) {
        static BackLayout of(int n, int d) {
            int npk = roundUp(n, MR), npq = roundUp(n, W), lk = skewed(npk), lq = skewed(npq), dw = roundUp(d, W), d8 = roundUp(d, MR);
            long qT = 0, doT = qT + (long) d * lq, kT = doT + (long) d * lq, vT = kT + (long) d * lk;
            long kRows = vT + (long) d * lk, dK = kRows + (long) npk * dw, dV = dK + (long) npk * dw;
            long qRows = dV + (long) npk * dw, doRows = qRows + (long) W * dw, dQT = doRows + (long) W * dw;
            long sr = dQT + (long) dw * W, sp = sr + (long) BC * W, sd = sp + (long) BC * W, tmp = sd + (long) BC * W;
            long lse = tmp + (long) dw * W, dot = lse + npq;
            return new BackLayout(n, d, npk, npq, lk, lq, dw, d8, qT, doT, kT, vT, kRows, dK, dV, qRows, doRows, dQT, sr, sp, sd, tmp,
                    lse, dot, dot + npq);
        }
    }

    /**
     * dQ, dK, dV (added to) and the scales' gradient from the saved log-sum-exp, queries in the lanes as in the forward
     * pass: S^T = K Q^T and dP^T = V dO^T by the score kernel, P^T = e^(scale S^T - lse) and dS^T = P^T (dP^T - D)
     * lane-wise, dQ^T += K^T dS^T by the forward's P V kernel, and dV += P dO, dK += dS Q by a kernel that reduces
     * over the lanes.
     */
    void backward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                  float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                  MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                  MemorySegment dv, long dvOff, double[] dScale, boolean add) {
        if (whole != null && whole.takes(s.tokens())) {
            whole.backward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, dO, dOOff, lse, lseOff,
                    dq, dqOff, dk, dkOff, dv, dvOff, dScale, add);
            return;
        }
        if (micro != null) {
            backwardOnMicroKernel(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, dO, dOOff, lse, lseOff,
                    dq, dqOff, dk, dkOff, dv, dvOff, dScale, add);
            return;
        }
        BackLayout lay = BackLayout.of(s.tokens(), s.headDim());
        MemorySegment mt = transposedMask(mask, maskOff, lay.n(), lay.npq());
        double[] perHead = new double[s.batch() * s.heads()];
        HeadSchedule.of(s).qkv(q, qOff, k, kOff, v, vOff).out(o, oOff).out(dO, dOOff).forEachHead((b, h) -> {
            int bh = b * s.heads() + h;
            Scratch room = scratch.get();
            MemorySegment w = room.get(lay.total());
            long base = b * s.sB() + h * s.sH(), obase = b * s.oB() + h * s.oH();
            int n = lay.n(), d = lay.d(), npk = lay.npk(), npq = lay.npq(), dw = lay.dw();
            float sc = scale[h];
            transpose(q, qOff + base, s.sN(), n, d, 1f, w, lay.qT(), lay.lq(), room);
            transpose(dO, dOOff + obase, s.oN(), n, d, 1f, w, lay.doT(), lay.lq(), room);
            transpose(k, kOff + base, s.sN(), n, d, 1f, w, lay.kT(), lay.lk(), room);
            transpose(v, vOff + base, s.sN(), n, d, 1f, w, lay.vT(), lay.lk(), room);
            packRows(k, kOff + base, s.sN(), n, d, w, lay.kRows(), npk, dw);
            fill(w, lay.dK(), 2L * npk * dw, 0f);
            float[] lanes = room.lanes;
            queryLanes(w, lse, lseOff + (long) bh * n, o, oOff + obase, dO, dOOff + obase, s.oN(), n, npq, d, lay.lse(), lay.dot());
            double ds = 0;
            for (int i0 = 0; i0 < n; i0 += W) {
                int rows = Math.min(W, n - i0);
                packRows(q, qOff + base + i0 * s.sN(), s.sN(), rows, d, w, lay.qRows(), W, dw);
                packRows(dO, dOOff + obase + i0 * s.oN(), s.oN(), rows, d, w, lay.doRows(), W, dw);
                fill(w, lay.dQT(), (long) dw * W, 0f);
                for (int j0 = 0; j0 < npk; j0 += BC) {
                    int bc = Math.min(BC, npk - j0);
                    for (int p = 0; p < bc; p += MR) {
                        scoresPanel(w, lay.kT() + j0 + p, lay.lk(), lay.qT() + i0, lay.lq(), d, lay.sr() + (long) p * W);
                        scoresPanel(w, lay.vT() + j0 + p, lay.lk(), lay.doT() + i0, lay.lq(), d, lay.sd() + (long) p * W);
                    }
                    ds += probsAndDs(w, lay.sr(), lay.sp(), lay.sd(), bc, Math.min(bc, n - j0), sc, lay.lse() + i0, lay.dot() + i0, mt, (long) j0 * npq + i0, npq, lanes);
                    // dQ^T += K^T dS^T
                    for (int c = 0; c < lay.d8(); c += MR) accumulatePanel(w, lay.kRows() + (long) j0 * dw + c, dw, lay.sd(), bc, lay.tmp() + (long) c * W);
                    add(w, lay.dQT(), lay.tmp(), (long) lay.d8() * W);
                    // dV += P dO, dK += dS Q (times the scale at the end)
                    for (int p = 0; p < bc; p += MR) {
                        for (int c = 0; c < dw; c += W) {
                            long row = (long) (j0 + p) * dw + c;
                            reduceLanes(w, lay.sp() + (long) p * W, lay.doRows() + c, dw, lay.tmp());
                            addRows(w, lay.tmp(), lay.dV() + row, dw, MR);
                            reduceLanes(w, lay.sd() + (long) p * W, lay.qRows() + c, dw, lay.tmp());
                            addRows(w, lay.tmp(), lay.dK() + row, dw, MR);
                        }
                    }
                }
                addTransposed(w, lay.dQT(), rows, d, sc, dq, dqOff + base + i0 * s.sN(), s.sN(), room, add);
            }
            writeKeyGradients(w, lay.dK(), lay.dV(), dw, dk, dkOff + base, dv, dvOff + base, s.sN(), n, d, sc, add);
            perHead[bh] = ds;
        }, q, k, v, mask, o, dO, lse, dq, dk, dv);
        if (dScale != null) for (int bh = 0; bh < perHead.length; bh++) dScale[bh % s.heads()] += perHead[bh];
    }

    /**
     * Scratch of one head for {@link #backwardOnMicroKernel}, in floats: K^T or V^T on their way into panels (d x
     * npk); one block's Q^T and dO^T (d x W, the micro-kernel's B) and its Q and dO rows (W x dw, B of the lane
     * reductions); the dK and dV sums (npk x dw); the block's dQ^T sum and one tile's share (dp x W); the raw score,
     * P^T and dP^T/dS^T tiles; and per-query lanes of the log-sum-exp and D = rowsum(dO * O).
     */
    private record MicroBackLayout(int n, int d, int mr, int npk, int npq, int dp, int dw, int bc, long xT, long qT, long doT,
                                   long qRows, long doRows, long dK, long dV, long dQT, long tmp, long sr, long sp, long sd,
                                   long lse, long dot, long total) {
        static MicroBackLayout of(int n, int d, int mr) {
            int npk = roundUp(n, mr), npq = roundUp(n, W), dp = roundUp(d, mr), dw = roundUp(d, W), bc = mr * BACK_TILE_PANELS;
            long xT = 0, qT = xT + (long) d * npk, doT = qT + (long) d * W, qRows = doT + (long) d * W, doRows = qRows + (long) W * dw;
            long dK = doRows + (long) W * dw, dV = dK + (long) npk * dw, dQT = dV + (long) npk * dw, tmp = dQT + (long) dp * W;
            long sr = tmp + (long) Math.max(dp, mr) * W, sp = sr + (long) bc * W, sd = sp + (long) bc * W, lse = sd + (long) bc * W;
            long dot = lse + npq;
            return new MicroBackLayout(n, d, mr, npk, npq, dp, dw, bc, xT, qT, doT, qRows, doRows, dK, dV, dQT, tmp, sr, sp, sd,
                    lse, dot, dot + npq);
        }
    }

    /** The backward's key tiles: three of them (scores, P^T, dS^T) in L1, 6 KiB each at 256 bits. */
    private static final int BACK_TILE_PANELS = 16;

    /**
     * {@link #backward} with its products on the GEMM micro-kernel, as {@link #forwardOnMicroKernel}: S^T = K Q^T and
     * dP^T = V dO^T from K's and V's panels against the block's Q^T and dO^T, dQ^T += K^T dS^T from K^T's panels
     * against dS^T, and the reductions over the block's queries, dV += P dO and dK += dS Q, with heap copies of the
     * P^T and dS^T tiles as rows of A against the block's dO and Q rows.
     */
    private void backwardOnMicroKernel(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                       float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                                       MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                                       MemorySegment dv, long dvOff, double[] dScale, boolean add) {
        int mr = micro.mr();
        MicroBackLayout lay = MicroBackLayout.of(s.tokens(), s.headDim(), mr);
        MemorySegment mt = transposedMask(mask, maskOff, lay.n(), lay.npq());
        double[] perHead = new double[s.batch() * s.heads()];
        HeadSchedule.of(s).qkv(q, qOff, k, kOff, v, vOff).out(o, oOff).out(dO, dOOff).forEachHead((b, h) -> {
            int bh = b * s.heads() + h;
            Scratch room = scratch.get();
            MemorySegment w = room.get(lay.total());
            long base = b * s.sB() + h * s.sH(), obase = b * s.oB() + h * s.oH();
            int n = lay.n(), d = lay.d(), npk = lay.npk(), npq = lay.npq(), dp = lay.dp(), dw = lay.dw();
            float sc = scale[h];
            float[] kp = room.kPanels(npk * d), vp = room.vPanels(npk * d), ktp = room.kTPanels(dp * n);
            float[] pt = room.pTile(lay.bc() * W), dst = room.dsTile(lay.bc() * W);
            rowPanels(k, kOff + base, s.sN(), n, d, w, lay.xT(), npk, kp, room);
            rowPanels(v, vOff + base, s.sN(), n, d, w, lay.xT(), npk, vp, room);
            micro.packAT(k, kOff + base, s.sN(), n, d, mr, 1f, ktp, 0);
            fill(w, lay.dK(), 2L * npk * dw, 0f);
            queryLanes(w, lse, lseOff + (long) bh * n, o, oOff + obase, dO, dOOff + obase, s.oN(), n, npq, d, lay.lse(), lay.dot());
            double ds = 0;
            for (int i0 = 0; i0 < n; i0 += W) {
                int rows = Math.min(W, n - i0);
                transpose(q, qOff + base + i0 * s.sN(), s.sN(), rows, d, 1f, w, lay.qT(), W, room);
                transpose(dO, dOOff + obase + i0 * s.oN(), s.oN(), rows, d, 1f, w, lay.doT(), W, room);
                packRows(q, qOff + base + i0 * s.sN(), s.sN(), rows, d, w, lay.qRows(), W, dw);
                packRows(dO, dOOff + obase + i0 * s.oN(), s.oN(), rows, d, w, lay.doRows(), W, dw);
                fill(w, lay.dQT(), (long) dp * W, 0f);
                for (int j0 = 0; j0 < npk; j0 += lay.bc()) {
                    int bc = Math.min(lay.bc(), npk - j0), keys = Math.min(bc, n - j0);
                    for (int p = 0; p < bc; p += mr) {
                        micro.compute(d, kp, (j0 + p) * d, w, lay.qT(), W, w, lay.sr() + (long) p * W, W);
                        micro.compute(d, vp, (j0 + p) * d, w, lay.doT(), W, w, lay.sd() + (long) p * W, W);
                    }
                    ds += probsAndDs(w, lay.sr(), lay.sp(), lay.sd(), bc, keys, sc, lay.lse() + i0, lay.dot() + i0, mt, (long) j0 * npq + i0, npq, room.lanes);
                    // dQ^T += K^T dS^T, over the tile's keys (past n: dS = 0 and no panel entries)
                    for (int c = 0; c < dp; c += mr) micro.compute(keys, ktp, c * n + j0 * mr, w, lay.sd(), W, w, lay.tmp() + (long) c * W, W);
                    add(w, lay.dQT(), lay.tmp(), (long) dp * W);
                    // dV += P dO, dK += dS Q (times the scale at the end), P^T's and dS^T's rows being A's rows
                    MemorySegment.copy(w, F, lay.sp() * 4, pt, 0, bc * W);
                    MemorySegment.copy(w, F, lay.sd() * 4, dst, 0, bc * W);
                    for (int p = 0; p < keys; p += mr) {
                        for (int c = 0; c < dw; c += W) {
                            long row = (long) (j0 + p) * dw + c;
                            micro.computeRows(W, pt, p * W, W, w, lay.doRows() + c, dw, w, lay.tmp(), W);
                            addRows(w, lay.tmp(), lay.dV() + row, dw, mr);
                            micro.computeRows(W, dst, p * W, W, w, lay.qRows() + c, dw, w, lay.tmp(), W);
                            addRows(w, lay.tmp(), lay.dK() + row, dw, mr);
                        }
                    }
                }
                addTransposed(w, lay.dQT(), rows, d, sc, dq, dqOff + base + i0 * s.sN(), s.sN(), room, add);
            }
            writeKeyGradients(w, lay.dK(), lay.dV(), dw, dk, dkOff + base, dv, dvOff + base, s.sN(), n, d, sc, add);
            perHead[bh] = ds;
        }, q, k, v, mask, o, dO, lse, dq, dk, dv);
        if (dScale != null) for (int bh = 0; bh < perHead.length; bh++) dScale[bh % s.heads()] += perHead[bh];
    }

    /** dst[rows, ld apart][W] += src[rows x W]. */
    private static void addRows(MemorySegment w, long src, long dst, int ld, int rows) {
        for (int r = 0; r < rows; r++) add(w, dst + (long) r * ld, src + (long) r * W, W);
    }

    /**
     * A head's per-query lanes for the backward pass: the forward's log-sum-exp at lseLanes (padded query lanes, and
     * fully masked queries whose lse is -inf, get +inf: their P is 0) and D = rowsum(dO * O) at dotLanes (0 past n).
     */
    private static void queryLanes(MemorySegment w, MemorySegment lse, long lseRow, MemorySegment o, long oBase, MemorySegment dO, long dOBase,
                                   long oN, int n, int npq, int d, long lseLanes, long dotLanes) {
        MemorySegment.copy(lse, lseRow * 4, w, lseLanes * 4, (long) n * 4);
        fill(w, lseLanes + n, npq - n, Float.POSITIVE_INFINITY);
        for (int i = 0; i < n; i++) if (w.getAtIndex(F, lseLanes + i) == Float.NEGATIVE_INFINITY) w.setAtIndex(F, lseLanes + i, Float.POSITIVE_INFINITY);
        // To n, then the padding: not to npq with a test inside (see finish).
        for (int i = 0; i < n; i++) w.setAtIndex(F, dotLanes + i, SimdKernels.dot(dO, dOBase + i * oN, o, oBase + i * oN, d));
        fill(w, dotLanes + n, npq - n, 0f);
    }

    /** A head's dK (times the scale) and dV sums, rows dw apart, into dk and dv (rows sN apart), added or written. */
    private static void writeKeyGradients(MemorySegment w, long dK, long dV, int dw, MemorySegment dk, long dkBase, MemorySegment dv, long dvBase,
                                          long sN, int n, int d, float sc, boolean add) {
        for (int j = 0; j < n; j++) {
            FusedAttention.addScaled(w, dK + (long) j * dw, dk, dkBase + j * sN, d, sc, add);
            FusedAttention.addScaled(w, dV + (long) j * dw, dv, dvBase + j * sN, d, 1f, add);
        }
    }

    /**
     * From one tile of raw scores (sr) and dP^T (sd), lane by lane: sp = P^T = e^(sc sr - lse), sd = dS^T = P^T (dP^T -
     * D). Rows past the last key (from {@code valid} on) get P = 0. Returns sum(dS * raw), this tile's share of d loss
     * / d scale.
     */
    private static double probsAndDs(MemorySegment w, long sr, long sp, long sd, int bc, int valid, float sc, long lse, long dot,
                                     MemorySegment mt, long mrow, int npq, float[] lanes) {
        long rb = W * 4L;
        for (int h = 0; h < W; h += L) {
            FloatVector l = FloatVector.fromMemorySegment(S, w, (lse + h) * 4, NO);
            long end = (sr + h) * 4 + valid * rb;
            for (long p = (sr + h) * 4, e = (sp + h) * 4; p < end; p += rb, e += rb) {
                FloatVector.fromMemorySegment(S, w, p, NO).mul(sc).sub(l).intoMemorySegment(w, e, NO);
            }
        }
        if (mt != null) addMaskRows(w, sp, mt, mrow, npq, valid);
        if (valid < bc) fill(w, sp + (long) valid * W, (long) (bc - valid) * W, Float.NEGATIVE_INFINITY);
        SimdMath.expShift(w, sp, w, sp, (long) bc * W, 0f, false);
        FloatVector acc = FloatVector.zero(S);
        for (int h = 0; h < W; h += L) {
            FloatVector dv = FloatVector.fromMemorySegment(S, w, (dot + h) * 4, NO);
            for (long r = 0, o = h * 4L; r < bc; r++, o += rb) {
                FloatVector pr = FloatVector.fromMemorySegment(S, w, sp * 4 + o, NO);
                FloatVector dS = pr.mul(FloatVector.fromMemorySegment(S, w, sd * 4 + o, NO).sub(dv));
                dS.intoMemorySegment(w, sd * 4 + o, NO);
                acc = dS.fma(FloatVector.fromMemorySegment(S, w, sr * 4 + o, NO), acc);
            }
        }
        acc.intoArray(lanes, 0);
        return SimdMath.sum(lanes);
    }

    /**
     * out[MR x 2 vectors] = A[MR rows x W lanes] X[W rows x 2 vectors]: the sum over a block's queries of a tile's
     * rows (P^T or dS^T from pa, rows W apart) times the queries' rows (dO or Q from xp, rows ldx apart).
     */
    private static void reduceLanes(MemorySegment w, long pa, long xp, int ldx, long out) {
        FloatVector o00 = FloatVector.zero(S), o01 = FloatVector.zero(S), o10 = FloatVector.zero(S), o11 = FloatVector.zero(S);
        FloatVector o20 = FloatVector.zero(S), o21 = FloatVector.zero(S), o30 = FloatVector.zero(S), o31 = FloatVector.zero(S);
        FloatVector o40 = FloatVector.zero(S), o41 = FloatVector.zero(S), o50 = FloatVector.zero(S), o51 = FloatVector.zero(S);
        FloatVector o60 = FloatVector.zero(S), o61 = FloatVector.zero(S), o70 = FloatVector.zero(S), o71 = FloatVector.zero(S);
        long x = xp * 4, vb = L * 4L;
        for (int j = 0; j < W; j++, pa++, x += ldx * 4L) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, w, x, NO), b1 = FloatVector.fromMemorySegment(S, w, x + vb, NO);
            FloatVector a;
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa)); o00 = a.fma(b0, o00); o01 = a.fma(b1, o01);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + W)); o10 = a.fma(b0, o10); o11 = a.fma(b1, o11);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + 2 * W)); o20 = a.fma(b0, o20); o21 = a.fma(b1, o21);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + 3 * W)); o30 = a.fma(b0, o30); o31 = a.fma(b1, o31);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + 4 * W)); o40 = a.fma(b0, o40); o41 = a.fma(b1, o41);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + 5 * W)); o50 = a.fma(b0, o50); o51 = a.fma(b1, o51);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + 6 * W)); o60 = a.fma(b0, o60); o61 = a.fma(b1, o61);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pa + 7 * W)); o70 = a.fma(b0, o70); o71 = a.fma(b1, o71);
        }
        long o = out * 4, rb = W * 4L;
        o00.intoMemorySegment(w, o, NO); o01.intoMemorySegment(w, o + vb, NO);
        o10.intoMemorySegment(w, o + rb, NO); o11.intoMemorySegment(w, o + rb + vb, NO);
        o20.intoMemorySegment(w, o + 2 * rb, NO); o21.intoMemorySegment(w, o + 2 * rb + vb, NO);
        o30.intoMemorySegment(w, o + 3 * rb, NO); o31.intoMemorySegment(w, o + 3 * rb + vb, NO);
        o40.intoMemorySegment(w, o + 4 * rb, NO); o41.intoMemorySegment(w, o + 4 * rb + vb, NO);
        o50.intoMemorySegment(w, o + 5 * rb, NO); o51.intoMemorySegment(w, o + 5 * rb + vb, NO);
        o60.intoMemorySegment(w, o + 6 * rb, NO); o61.intoMemorySegment(w, o + 6 * rb + vb, NO);
        o70.intoMemorySegment(w, o + 7 * rb, NO); o71.intoMemorySegment(w, o + 7 * rb + vb, NO);
    }

    /** x += y over n floats (a multiple of L). */
    private static void add(MemorySegment w, long x, long y, long n) {
        for (long i = 0, o = x * 4, p = y * 4; i < n; i += L, o += L * 4L, p += L * 4L) {
            FloatVector.fromMemorySegment(S, w, p, NO).add(FloatVector.fromMemorySegment(S, w, o, NO)).intoMemorySegment(w, o, NO);
        }
    }

    /**
     * Rows i (< rows, sN apart from dst) += f * column i of xT[d x W], turned in L x L blocks: read from the workspace
     * at 8 and 16 lanes, gathered from a heap copy at other widths.
     */
    private static void addTransposed(MemorySegment w, long xT, int rows, int d, float f, MemorySegment dst, long dstOff, long sN, Scratch room, boolean add) {
        float[] blk = room.block, xt = null;
        if (!SimdTranspose.IN_REGISTERS) {
            xt = room.cols(d * W);
            MemorySegment.copy(w, F, xT * 4, xt, 0, d * W);
        }
        int whole = d - d % L;
        for (int i0 = 0; i0 < rows; i0 += L) {
            int is = Math.min(L, rows - i0);
            for (int t0 = 0; t0 < whole; t0 += L) {
                if (xt == null) SimdTranspose.block(w, xT + (long) t0 * W + i0, W, L, blk);
                else SimdTranspose.gather(xt, t0 * W + i0, W, BLOCK_STRIDE, blk);
                for (int i = 0; i < is; i++) {
                    long at = (dstOff + (i0 + i) * sN + t0) * 4;
                    FloatVector x = FloatVector.fromArray(S, blk, i * L).mul(f);
                    (add ? x.add(FloatVector.fromMemorySegment(S, dst, at, NO)) : x).intoMemorySegment(dst, at, NO);
                }
            }
        }
        for (int i = 0; i < rows; i++) {
            long row = dstOff + i * sN;
            for (int t = whole; t < d; t++) {
                float x = f * w.getAtIndex(F, xT + (long) t * W + i);
                dst.setAtIndex(F, row + t, add ? dst.getAtIndex(F, row + t) + x : x);
            }
        }
    }

    /**
     * dst[d x ld] = scale * X^T for one head's n rows (sN apart); columns n..ld zeroed. Turned in L x L blocks in
     * registers ({@link SimdTranspose}): at 8 and 16 lanes read straight from the tensor, rows past n as zeros; at other
     * widths gathered from a heap copy of the rows padded with zero rows to whole blocks. Head-dim columns past the
     * last whole block are read one float at a time.
     */
    private static void transpose(MemorySegment x, long base, long sN, int n, int d, float scale, MemorySegment w, long dst, int ld, Scratch room) {
        int nv = roundUp(n, L), end = Math.min(nv, ld), whole = d - d % L;
        float[] blk = room.block, rows = null;
        int[] stride = null;
        if (!SimdTranspose.IN_REGISTERS) {
            rows = room.rows(nv * d);
            stride = room.stride(d);
            for (int j = 0; j < n; j++) MemorySegment.copy(x, F, (base + j * sN) * 4, rows, j * d, d);
            java.util.Arrays.fill(rows, n * d, nv * d, 0f);
        }
        int j0 = 0;
        for (; j0 < end; j0 += L) {
            // ld is not always a whole number of vectors: then the last one stores only its columns below ld.
            boolean all = j0 + L <= ld;
            int valid = Math.min(L, n - j0);
            for (int t0 = 0; t0 < whole; t0 += L) {
                if (rows == null) SimdTranspose.block(x, base + j0 * sN + t0, sN, valid, blk);
                else SimdTranspose.gather(rows, j0 * d + t0, d, stride, blk);
                storeBlock(blk, L, scale, w, dst + (long) t0 * ld + j0, ld, all, j0);
            }
            for (int t = whole; t < d; t++) {
                // To valid, then zeros: not to L with a test inside (see finish).
                for (int j = 0; j < valid; j++) blk[j] = x.getAtIndex(F, base + (j0 + j) * sN + t);
                java.util.Arrays.fill(blk, valid, L, 0f);
                storeBlock(blk, 1, scale, w, dst + (long) t * ld + j0, ld, all, j0);
            }
        }
        if (j0 < ld) for (int t = 0; t < d; t++) fill(w, dst + (long) t * ld + j0, ld - j0, 0f);
    }

    /** The first count rows of blk (L wide) times scale into w at at, ld apart; only columns below ld unless all. */
    private static void storeBlock(float[] blk, int count, float scale, MemorySegment w, long at, int ld, boolean all, int j0) {
        for (int t = 0; t < count; t++) {
            FloatVector v = FloatVector.fromArray(S, blk, t * L).mul(scale);
            long b = (at + (long) t * ld) * 4;
            if (all) v.intoMemorySegment(w, b, NO);
            else v.intoMemorySegment(w, b, NO, S.indexInRange(j0, ld));
        }
    }

    /** Rows of one head into dst[np x dp], padding zeroed (the row-oriented kernel's too). */
    static void packRows(MemorySegment x, long base, long sN, int n, int d, MemorySegment w, long dst, int np, int dp) {
        fill(w, dst, (long) np * dp, 0f);
        for (int j = 0; j < n; j++) MemorySegment.copy(x, (base + j * sN) * 4, w, (dst + (long) j * dp) * 4, (long) d * 4);
    }

    /** n floats at off = value (the row-oriented kernel's zero too). */
    static void fill(MemorySegment w, long off, long n, float value) {
        FloatVector z = FloatVector.broadcast(S, value);
        long i = 0;
        for (; i <= n - L; i += L) z.intoMemorySegment(w, (off + i) * 4, NO);
        for (; i < n; i++) w.setAtIndex(F, off + i, value);
    }

    /** st[MR x W] = K^T[:, MR keys]^T (columns kp.., rows ldk apart) * Q^T[:, W queries] (columns qp.., rows ldq apart). */
    private static void scoresPanel(MemorySegment w, long kp, int ldk, long qp, int ldq, int d, long st) {
        FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S), s10 = FloatVector.zero(S), s11 = FloatVector.zero(S);
        FloatVector s20 = FloatVector.zero(S), s21 = FloatVector.zero(S), s30 = FloatVector.zero(S), s31 = FloatVector.zero(S);
        FloatVector s40 = FloatVector.zero(S), s41 = FloatVector.zero(S), s50 = FloatVector.zero(S), s51 = FloatVector.zero(S);
        FloatVector s60 = FloatVector.zero(S), s61 = FloatVector.zero(S), s70 = FloatVector.zero(S), s71 = FloatVector.zero(S);
        for (int t = 0; t < d; t++, kp += ldk, qp += ldq) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, w, qp * 4, NO), b1 = FloatVector.fromMemorySegment(S, w, (qp + L) * 4, NO);
            FloatVector a;
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp)); s00 = a.fma(b0, s00); s01 = a.fma(b1, s01);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 1)); s10 = a.fma(b0, s10); s11 = a.fma(b1, s11);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 2)); s20 = a.fma(b0, s20); s21 = a.fma(b1, s21);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 3)); s30 = a.fma(b0, s30); s31 = a.fma(b1, s31);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 4)); s40 = a.fma(b0, s40); s41 = a.fma(b1, s41);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 5)); s50 = a.fma(b0, s50); s51 = a.fma(b1, s51);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 6)); s60 = a.fma(b0, s60); s61 = a.fma(b1, s61);
            a = FloatVector.broadcast(S, w.getAtIndex(F, kp + 7)); s70 = a.fma(b0, s70); s71 = a.fma(b1, s71);
        }
        long o = st * 4, vb = L * 4L, rb = W * 4L;
        s00.intoMemorySegment(w, o, NO); s01.intoMemorySegment(w, o + vb, NO);
        s10.intoMemorySegment(w, o + rb, NO); s11.intoMemorySegment(w, o + rb + vb, NO);
        s20.intoMemorySegment(w, o + 2 * rb, NO); s21.intoMemorySegment(w, o + 2 * rb + vb, NO);
        s30.intoMemorySegment(w, o + 3 * rb, NO); s31.intoMemorySegment(w, o + 3 * rb + vb, NO);
        s40.intoMemorySegment(w, o + 4 * rb, NO); s41.intoMemorySegment(w, o + 4 * rb + vb, NO);
        s50.intoMemorySegment(w, o + 5 * rb, NO); s51.intoMemorySegment(w, o + 5 * rb + vb, NO);
        s60.intoMemorySegment(w, o + 6 * rb, NO); s61.intoMemorySegment(w, o + 6 * rb + vb, NO);
        s70.intoMemorySegment(w, o + 7 * rb, NO); s71.intoMemorySegment(w, o + 7 * rb + vb, NO);
    }

    /**
     * The online softmax step for one tile, lane by lane: max = max(max, tile), st = e^(st - max), corr = e^(old max -
     * max), sum = sum * corr + column sums of st. A lane whose max is still -inf (every key masked so far) shifts by 0,
     * so its e^-inf stay 0 instead of NaN. shift: W floats of scratch for the shifts.
     */
    private static void softmaxTile(MemorySegment w, long st, int bc, long max, long sum, long corr, long shift) {
        long rb = W * 4L;
        for (int h = 0; h < W; h += L) {
            long end = (st + h) * 4 + bc * rb;
            FloatVector old = FloatVector.fromMemorySegment(S, w, (max + h) * 4, NO);
            FloatVector m0 = old, m1 = old;
            for (long p = (st + h) * 4; p < end; p += 2 * rb) {
                FloatVector x0 = FloatVector.fromMemorySegment(S, w, p, NO), x1 = FloatVector.fromMemorySegment(S, w, p + rb, NO);
                // The new value is the receiver, never the loop-carried max (see package-info); NaN keeps the max.
                m0 = x0.blend(m0, x0.compare(GT, m0).not());
                m1 = x1.blend(m1, x1.compare(GT, m1).not());
            }
            FloatVector m = m0.blend(m1, m1.compare(GT, m0));
            FloatVector sh = m.blend(0f, m.compare(EQ, Float.NEGATIVE_INFINITY));
            m.intoMemorySegment(w, (max + h) * 4, NO);
            sh.intoMemorySegment(w, (shift + h) * 4, NO);
            old.sub(sh).intoMemorySegment(w, (corr + h) * 4, NO);
        }
        SimdMath.expShift(w, corr, w, corr, W, 0f, false);
        SimdMath.expLanes(w, st, bc, shift, sum, corr);
    }

    /**
     * pv[MR x W] = V[keys, MR head-dim columns]^T P^T[keys x W], over bc keys: vp points at the first key's MR columns
     * (rows ldv apart), pt at P^T's first row. Written to a buffer, not added to O^T here: loading O^T into the
     * accumulators made the method too big for C1 (out of virtual registers), and the tiered policy then never had C2
     * compile it.
     */
    private static void accumulatePanel(MemorySegment w, long vp, int ldv, long pt, int bc, long pv) {
        long o = pv * 4, vb = L * 4L, rb = W * 4L;
        FloatVector o00 = FloatVector.zero(S), o01 = FloatVector.zero(S), o10 = FloatVector.zero(S), o11 = FloatVector.zero(S);
        FloatVector o20 = FloatVector.zero(S), o21 = FloatVector.zero(S), o30 = FloatVector.zero(S), o31 = FloatVector.zero(S);
        FloatVector o40 = FloatVector.zero(S), o41 = FloatVector.zero(S), o50 = FloatVector.zero(S), o51 = FloatVector.zero(S);
        FloatVector o60 = FloatVector.zero(S), o61 = FloatVector.zero(S), o70 = FloatVector.zero(S), o71 = FloatVector.zero(S);
        long p = pt * 4;
        for (int j = 0; j < bc; j++, vp += ldv, p += rb) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, w, p, NO), b1 = FloatVector.fromMemorySegment(S, w, p + vb, NO);
            FloatVector a;
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp)); o00 = a.fma(b0, o00); o01 = a.fma(b1, o01);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 1)); o10 = a.fma(b0, o10); o11 = a.fma(b1, o11);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 2)); o20 = a.fma(b0, o20); o21 = a.fma(b1, o21);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 3)); o30 = a.fma(b0, o30); o31 = a.fma(b1, o31);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 4)); o40 = a.fma(b0, o40); o41 = a.fma(b1, o41);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 5)); o50 = a.fma(b0, o50); o51 = a.fma(b1, o51);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 6)); o60 = a.fma(b0, o60); o61 = a.fma(b1, o61);
            a = FloatVector.broadcast(S, w.getAtIndex(F, vp + 7)); o70 = a.fma(b0, o70); o71 = a.fma(b1, o71);
        }
        o00.intoMemorySegment(w, o, NO); o01.intoMemorySegment(w, o + vb, NO);
        o10.intoMemorySegment(w, o + rb, NO); o11.intoMemorySegment(w, o + rb + vb, NO);
        o20.intoMemorySegment(w, o + 2 * rb, NO); o21.intoMemorySegment(w, o + 2 * rb + vb, NO);
        o30.intoMemorySegment(w, o + 3 * rb, NO); o31.intoMemorySegment(w, o + 3 * rb + vb, NO);
        o40.intoMemorySegment(w, o + 4 * rb, NO); o41.intoMemorySegment(w, o + 4 * rb + vb, NO);
        o50.intoMemorySegment(w, o + 5 * rb, NO); o51.intoMemorySegment(w, o + 5 * rb + vb, NO);
        o60.intoMemorySegment(w, o + 6 * rb, NO); o61.intoMemorySegment(w, o + 6 * rb + vb, NO);
        o70.intoMemorySegment(w, o + 7 * rb, NO); o71.intoMemorySegment(w, o + 7 * rb + vb, NO);
    }

    /** oT[rows x W] = corr * oT + pv, corr being one row of W lanes. */
    private static void rescaleAdd(MemorySegment w, long oT, long pv, int rows, long corr) {
        long vb = L * 4L;
        FloatVector c0 = FloatVector.fromMemorySegment(S, w, corr * 4, NO), c1 = FloatVector.fromMemorySegment(S, w, corr * 4 + vb, NO);
        for (long r = 0, o = oT * 4, p = pv * 4; r < rows; r++, o += 2 * vb, p += 2 * vb) {
            FloatVector.fromMemorySegment(S, w, o, NO).fma(c0, FloatVector.fromMemorySegment(S, w, p, NO)).intoMemorySegment(w, o, NO);
            FloatVector.fromMemorySegment(S, w, o + vb, NO).fma(c1, FloatVector.fromMemorySegment(S, w, p + vb, NO)).intoMemorySegment(w, o + vb, NO);
        }
    }

    /**
     * O rows = O^T's columns / sum, and lse = max + log(sum), for the block's first {@code rows} queries. The sums become
     * their inverses in place (the next block refills them), which scale O^T lane-wise before it is turned into rows.
     */
    private static void finish(MemorySegment w, long oT, int d, long max, long sum, int rows, MemorySegment o, long orow, long oN,
                               MemorySegment lse, long lseRow, Scratch room) {
        // The log-sum-exp loop runs to rows, not to W with a test inside: C2 hoisted lse's bounds check for all W lanes
        // out of that loop, and it failed at a head's last block whenever lse ended within W floats: a deoptimization
        // storm (DeoptimizationTest), N = 197 attention 2.6-2.8 ms instead of 0.9.
        float[] sums = room.sums;
        for (int h = 0; h < W; h += L) {
            FloatVector l = FloatVector.fromMemorySegment(S, w, (sum + h) * 4, NO);
            l.intoArray(sums, h);
            // 0 for a query with nothing to attend to (every key masked).
            FloatVector.broadcast(S, 1f).div(l).blend(0f, l.compare(GT, 0f).not()).intoMemorySegment(w, (sum + h) * 4, NO);
        }
        for (int q = 0; q < rows; q++) {
            float l = sums[q];
            lse.setAtIndex(F, lseRow + q, l > 0 ? (float) (w.getAtIndex(F, max + q) + Math.log(l)) : Float.NEGATIVE_INFINITY);
        }
        scaleRows(w, oT, d, sum);
        addTransposed(w, oT, rows, d, 1f, o, orow, oN, room, false);
    }

    /** oT[rows x W] *= f lane-wise, f being one row of W lanes. */
    private static void scaleRows(MemorySegment w, long oT, int rows, long f) {
        long vb = L * 4L;
        FloatVector f0 = FloatVector.fromMemorySegment(S, w, f * 4, NO), f1 = FloatVector.fromMemorySegment(S, w, f * 4 + vb, NO);
        for (long r = 0, o = oT * 4; r < rows; r++, o += 2 * vb) {
            FloatVector.fromMemorySegment(S, w, o, NO).mul(f0).intoMemorySegment(w, o, NO);
            FloatVector.fromMemorySegment(S, w, o + vb, NO).mul(f1).intoMemorySegment(w, o + vb, NO);
        }
    }
}
