package dev.tessera.engine.kernels.simd;

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
 * Attention for short sequences, one head's whole score matrix at a time, every product a plain GEMM on the micro-kernel
 * over whole panels: S = (scale Q) K^T, P = softmax(S + mask) row by row, O = P V; backward S and dP = dO V^T again,
 * dS = P (dP - D), dQ = scale dS K, dK = scale dS^T Q, dV = P^T dO. Q, dO, P and dS are packed as A; K^T and V^T as B
 * panels; K, Q, dO and V are read in place as B where the head dimension is a whole number of panels.
 *
 * <p>The query-lane kernel ({@link QueryLaneAttention}) tiles keys and queries for long sequences, where the N x N
 * scores must not be held. At a small image's N = 50 its tiling is mostly fixed costs: a block of 16 queries pads 50 to
 * 64, and every block transposes its queries in, its output back, and rescales; the products ran at a fifth of the
 * micro-kernel's speed (a D = 128 training step spent 28% of its time in attention, about 10% of its flops). Here each
 * thread holds one head's 3 N x N floats at a time (50 KiB at N = 64, in L2), never a batch's: N is bounded by
 * {@code -Dtessera.attention.wholeHeadTokens} (64 by default; 0 turns this path off), above which the tiled kernel,
 * O(N d) per head, runs.
 */
final class WholeHeadAttention {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final Arena ARENA = Arena.ofShared();

    private final MicroKernel micro;
    private final int mr, nr, maxTokens;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    private static final class Scratch {
        MemorySegment seg = MemorySegment.NULL;
        float[] a = new float[0], inv = new float[0], rows = new float[0];
        /** L floats for SimdKernels.max's lanes. */
        final float[] lanes = new float[L];

        MemorySegment seg(long floats) {
            if (seg.byteSize() < floats * 4) seg = OffHeap.allocateFloats(ARENA, floats);
            return seg;
        }

        float[] a(int floats) { return a.length >= floats ? a : (a = new float[floats]); }

        float[] inv(int n) { return inv.length >= n ? inv : (inv = new float[n]); }

        /** P or dS as rows, for the kernel's computeRows; rows past n hold stale (finite) values, never emitted. */
        float[] rows(int floats) { return rows.length >= floats ? rows : (rows = new float[floats]); }
    }

    WholeHeadAttention(MicroKernel micro) {
        this.micro = micro;
        this.mr = micro.mr();
        this.nr = micro.nr();
        this.maxTokens = Integer.getInteger("tessera.attention.wholeHeadTokens", 64);
    }

    boolean takes(int tokens) { return tokens <= maxTokens; }

    private static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

    /**
     * One head's scratch, in floats: S, P and dP (then dS), nm x nk each (queries padded to the kernel's rows, keys to
     * its columns); K^T's and V^T's B panels (d x nk); rows of K, Q, V or dO packed as B when d is not a whole number
     * of panels (n x dn); and an output product (nm x dn).
     */
    private record Layout(int n, int d, int nm, int nk, int dn, long s, long p, long dp, long kT, long vT, long rows, long out, long total) {
        static Layout of(int n, int d, int mr, int nr) {
            int nm = roundUp(n, mr), nk = roundUp(n, nr), dn = roundUp(d, nr);
            long sq = (long) nm * nk;
            long s = 0, p = s + sq, dp = p + sq, kT = dp + sq, vT = kT + (long) d * nk, rows = vT + (long) d * nk, out = rows + (long) n * dn;
            return new Layout(n, d, nm, nk, dn, s, p, dp, kT, vT, rows, out, out + (long) nm * dn);
        }
    }

    void forward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                 float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        Layout lay = Layout.of(s.tokens(), s.headDim(), mr, nr);
        HeadSchedule.of(s).qkv(q, qOff, k, kOff, v, vOff).out(o, oOff).forEachHead((b, h) -> {
            Scratch room = scratch.get();
            MemorySegment w = room.seg(lay.total());
            int n = lay.n(), d = lay.d(), nk = lay.nk();
            long base = b * s.sB() + h * s.sH(), lseRow = lseOff + (long) (b * s.heads() + h) * n;
            float[] ap = room.a(lay.nm() * Math.max(d, n));
            // S (n x n) = (scale Q) (n x d) K^T (d x n)
            micro.packA(q, qOff + base, s.sN(), d, n, mr, scale[h], ap, 0);
            micro.packBT(k, kOff + base, s.sN(), d, n, w, lay.kT());
            product(ap, d, lay.nm(), w, lay.kT(), nr, (long) nr * d, nk, w, lay.s(), nk);
            // P = e^(S + mask - max) unnormalised, each row's 1 / sum kept for O
            float[] inv = room.inv(n);
            for (int i = 0; i < n; i++) inv[i] = shiftRow(w, lay.s() + (long) i * nk, n, nk, mask, maskOff + (long) i * n, room.lanes);
            SimdMath.expShift(w, lay.s(), w, lay.s(), (long) n * nk, 0f, false);
            for (int i = 0; i < n; i++) {
                float sum = SimdKernels.sum(w, lay.s() + (long) i * nk, nk), max = inv[i];
                lse.setAtIndex(F, lseRow + i, sum > 0 ? (float) (max + Math.log(sum)) : Float.NEGATIVE_INFINITY);
                inv[i] = sum > 0 ? 1f / sum : 0f;
            }
            // O (n x d) = P (n x n) V (n x d), each row times its 1 / sum
            float[] pr = room.rows(lay.nm() * nk);
            MemorySegment.copy(w, F, lay.s() * 4, pr, 0, n * nk);
            rowsProduct(pr, nk, lay, v, vOff + base, s.sN(), w);
            emit(w, lay, inv, o, oOff + b * s.oB() + h * s.oH(), s.oN(), false);
        }, q, k, v, mask, o, lse);
    }

    /**
     * One row of scores shifted in place for its exponentials, all of a head's rows taken by one call then (per row, the
     * exponential's pipeline never filled: 21% of the forward pass at N = 50): the mask's row added, padded keys at
     * -inf, the row's max subtracted. Returns the max (-inf for a row with every key masked, which is then left
     * unshifted: e^-inf = 0, no NaN).
     */
    private static float shiftRow(MemorySegment w, long row, int n, int nk, MemorySegment mask, long maskRow, float[] lanes) {
        if (mask != null) SimdKernels.addSerial(mask, maskRow, w, row, w, row, n);
        QueryLaneAttention.fill(w, row + n, nk - n, Float.NEGATIVE_INFINITY);
        float max = SimdKernels.max(w, row, nk, lanes);
        if (max != Float.NEGATIVE_INFINITY) {
            FloatVector shift = FloatVector.broadcast(S, max);
            for (int j = 0; j < nk; j += L) FloatVector.fromMemorySegment(S, w, (row + j) * 4, NO).sub(shift).intoMemorySegment(w, (row + j) * 4, NO);
        }
        return max;
    }

    /**
     * dQ, dK, dV (written, or added to when {@code add}) and the scales' gradient, from the forward's log-sum-exp: P is
     * recomputed from S rather than kept.
     */
    void backward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                  float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                  MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                  MemorySegment dv, long dvOff, double[] dScale, boolean add) {
        Layout lay = Layout.of(s.tokens(), s.headDim(), mr, nr);
        double[] perHead = new double[s.batch() * s.heads()];
        HeadSchedule.of(s).qkv(q, qOff, k, kOff, v, vOff).out(o, oOff).out(dO, dOOff).forEachHead((b, h) -> {
            Scratch room = scratch.get();
            MemorySegment w = room.seg(lay.total());
            int n = lay.n(), d = lay.d(), nk = lay.nk(), bh = b * s.heads() + h;
            long base = b * s.sB() + h * s.sH(), obase = b * s.oB() + h * s.oH();
            float[] ap = room.a(lay.nm() * Math.max(d, n));
            float sc = scale[h];
            // S = Q K^T (unscaled: the scale's gradient is sum(dS * S)), dP = dO V^T
            micro.packA(q, qOff + base, s.sN(), d, n, mr, 1f, ap, 0);
            micro.packBT(k, kOff + base, s.sN(), d, n, w, lay.kT());
            product(ap, d, lay.nm(), w, lay.kT(), nr, (long) nr * d, nk, w, lay.s(), nk);
            micro.packA(dO, dOOff + obase, s.oN(), d, n, mr, 1f, ap, 0);
            micro.packBT(v, vOff + base, s.sN(), d, n, w, lay.vT());
            product(ap, d, lay.nm(), w, lay.vT(), nr, (long) nr * d, nk, w, lay.dp(), nk);
            // P = e^(scale S + mask - lse), all rows' exponentials in one call; then dS
            for (int i = 0; i < n; i++) {
                float l = lse.getAtIndex(F, lseOff + (long) bh * n + i);
                exponents(w, lay, i, sc, l == Float.NEGATIVE_INFINITY ? Float.POSITIVE_INFINITY : l, mask, maskOff + (long) i * n);
            }
            SimdMath.expShift(w, lay.p(), w, lay.p(), (long) n * nk, 0f, false);
            double ds = 0;
            for (int i = 0; i < n; i++) ds += dsRow(w, lay, i, sc, SimdKernels.dot(dO, dOOff + obase + i * s.oN(), o, oOff + obase + i * s.oN(), d));
            // dQ = (scale dS) K
            float[] dsr = room.rows(lay.nm() * nk);
            MemorySegment.copy(w, F, lay.dp() * 4, dsr, 0, n * nk);
            rowsProduct(dsr, nk, lay, k, kOff + base, s.sN(), w);
            emit(w, lay, null, dq, dqOff + base, s.sN(), add);
            // dK = (scale dS)^T Q
            micro.packAT(w, lay.dp(), nk, n, n, mr, 1f, ap, 0);
            rowsProduct(ap, 0, lay, q, qOff + base, s.sN(), w);
            emit(w, lay, null, dk, dkOff + base, s.sN(), add);
            // dV = P^T dO
            micro.packAT(w, lay.p(), nk, n, n, mr, 1f, ap, 0);
            rowsProduct(ap, 0, lay, dO, dOOff + obase, s.oN(), w);
            emit(w, lay, null, dv, dvOff + base, s.sN(), add);
            perHead[bh] = ds;
        }, q, k, v, mask, o, dO, lse, dq, dk, dv);
        if (dScale != null) for (int bh = 0; bh < perHead.length; bh++) dScale[bh % s.heads()] += perHead[bh];
    }

    /** Row i of P's exponents: scale S + mask - lse, padded keys -inf (and every key when lse is +inf: P = 0). */
    private static void exponents(MemorySegment w, Layout lay, int i, float sc, float l, MemorySegment mask, long maskRow) {
        int n = lay.n(), nk = lay.nk();
        long s = lay.s() + (long) i * nk, p = lay.p() + (long) i * nk;
        FloatVector vsc = FloatVector.broadcast(S, sc), nl = FloatVector.broadcast(S, -l);
        for (int j = 0; j < nk; j += L) FloatVector.fromMemorySegment(S, w, (s + j) * 4, NO).fma(vsc, nl).intoMemorySegment(w, (p + j) * 4, NO);
        if (mask != null) SimdKernels.addSerial(mask, maskRow, w, p, w, p, n);
        QueryLaneAttention.fill(w, p + n, nk - n, Float.NEGATIVE_INFINITY);
    }

    /** Row i: dS = P (dP - D), stored times the scale in dP's place. Returns the row's sum(dS * S) (the scale's gradient). */
    private static float dsRow(MemorySegment w, Layout lay, int i, float sc, float dot) {
        int nk = lay.nk();
        FloatVector acc = FloatVector.zero(S);
        long s = lay.s() + (long) i * nk, p = lay.p() + (long) i * nk, dp = lay.dp() + (long) i * nk;
        FloatVector vsc = FloatVector.broadcast(S, sc), vd = FloatVector.broadcast(S, dot);
        for (int j = 0; j < nk; j += L) {
            FloatVector dS = FloatVector.fromMemorySegment(S, w, (p + j) * 4, NO).mul(FloatVector.fromMemorySegment(S, w, (dp + j) * 4, NO).sub(vd));
            acc = dS.fma(FloatVector.fromMemorySegment(S, w, (s + j) * 4, NO), acc);
            dS.mul(vsc).intoMemorySegment(w, (dp + j) * 4, NO);
        }
        return acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    /** C (rows x cols, ldc) = A's packed panels (kc deep) times B's panels: bPanel floats apart, k steps bStep apart. */
    private void product(float[] ap, int kc, int rows, MemorySegment b, long bOff, long bStep, long bPanel, int cols,
                         MemorySegment c, long cOff, long ldc) {
        for (int i = 0; i < rows; i += mr) {
            for (int j = 0; j < cols; j += nr) micro.compute(kc, ap, i * kc, b, bOff + (j / nr) * bPanel, bStep, c, cOff + (long) i * ldc + j, ldc);
        }
    }

    /**
     * The output product (nm x dn) = A (n deep: packed panels, or rows rs apart when rs > 0, for the kernel's
     * computeRows) times n rows of x (d wide, stride apart): read in place when d is a whole number of the kernel's
     * panels, else packed first.
     */
    private void rowsProduct(float[] a, int rs, Layout lay, MemorySegment x, long at, long stride, MemorySegment w) {
        int n = lay.n(), d = lay.d(), nm = lay.nm(), dn = lay.dn();
        boolean inPlace = d % nr == 0;
        if (!inPlace) micro.packB(x, at, stride, n, d, w, lay.rows());
        MemorySegment b = inPlace ? x : w;
        long bOff = inPlace ? at : lay.rows(), bStep = inPlace ? stride : nr, bPanel = inPlace ? nr : (long) nr * n;
        if (rs == 0) {
            product(a, n, nm, b, bOff, bStep, bPanel, dn, w, lay.out(), dn);
            return;
        }
        for (int i = 0; i < nm; i += mr) {
            for (int j = 0; j < dn; j += nr) micro.computeRows(n, a, i * rs, rs, b, bOff + (j / nr) * bPanel, bStep, w, lay.out() + (long) i * dn + j, dn);
        }
    }

    /**
     * The output product's first n rows, d wide, into dst's rows (stride apart), each times its factor when f is given:
     * written, or added to.
     */
    private static void emit(MemorySegment w, Layout lay, float[] f, MemorySegment dst, long at, long stride, boolean add) {
        int n = lay.n(), d = lay.d(), dn = lay.dn();
        for (int i = 0; i < n; i++) {
            long src = lay.out() + (long) i * dn, row = at + i * stride;
            if (f == null && !add) MemorySegment.copy(w, src * 4, dst, row * 4, d * 4L);
            else FusedAttention.addScaled(w, src, dst, row, d, f == null ? 1f : f[i], add);
        }
    }
}
