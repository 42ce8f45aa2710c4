package dev.tessera.engine.kernels.simd;

import dev.tessera.engine.kernels.AttentionDropout;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.kernels.gemm.MicroKernel;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Flash-style attention: per (batch, head), blocks of R query rows sweep K/V in column tiles of BC with an online
 * softmax, so only an R x BC score tile ever exists. Memory per head is O(N d): K^T and V packed once, padded to whole
 * vectors. The backward pass recomputes the probabilities from the saved log-sum-exp (FlashAttention-2 style).
 */
final class FusedAttention {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final int R = 4;
    private static final int BC = 8 * L;
    private static final Arena ARENA = Arena.ofShared();

    /** Per-thread scratch, grown to the largest head seen and then reused. */
    private static final class Scratch {
        MemorySegment seg = MemorySegment.NULL;
        float[] rows = new float[0], cols = new float[0];

        MemorySegment get(long floats) {
            if (seg.byteSize() < floats * 4) seg = OffHeap.allocateFloats(ARENA, floats);
            return seg;
        }

        /** Heap room for transposing an n x d head (see packKT). */
        Scratch transposeRoom(int n, int d, int np) {
            if (rows.length < n * d) rows = new float[n * d];
            if (cols.length < d * np) cols = new float[d * np];
            return this;
        }
    }

    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);
    private final QueryLaneAttention queryLanes;

    FusedAttention(MicroKernel micro) {
        queryLanes = new QueryLaneAttention(micro);
    }

    /** Whether the query-lane passes run their products on the GEMM micro-kernel (else on their own panels). */
    boolean onMicroKernel() { return queryLanes.onMicroKernel(); }
    /** Forces this class's row-oriented passes, forward and backward, where the query-lane ones would run (for comparison). */
    private static final boolean ROW_FORWARD = Boolean.getBoolean("tessera.attention.rowForward");

    private static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

    /** Zeroes n floats of scratch at off. Not asSlice(..).fill(): C2 did not scalar-replace the slice, 27% of a training step's heap garbage. */
    private static void zero(MemorySegment w, long off, long n) {
        QueryLaneAttention.fill(w, off, n, 0f);
    }

    // ---------------------------------------------------------------- forward

    /** Scratch layout of one head, in floats; every method below takes offsets into one segment. */
    private record Layout(int n, int d, int np, int dp, long kT, long vT, long kP, long vP, long qb, long ob, long st, long st2,
                          long dK, long dV, long dqb, long pt, long fr, long total) {
        static Layout of(int n, int d) {
            int np = roundUp(n, L), dp = roundUp(d, L);
            long kT = 0, vT = kT + (long) d * np, kP = vT + (long) d * np, vP = kP + (long) np * dp;
            long qb = vP + (long) np * dp, ob = qb + (long) R * dp, st = ob + (long) R * dp, st2 = st + (long) R * BC;
            long dK = st2 + (long) R * BC, dV = dK + (long) np * dp;
            long dqb = dV + (long) np * dp;
            long pt = dqb + (long) R * dp;
            return new Layout(n, d, np, dp, kT, vT, kP, vP, qb, ob, st, st2, dK, dV, dqb, pt, pt + BC, pt + 2 * BC);
        }
    }

    void forward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                 float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                 MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        if (!dropout.active() && !ROW_FORWARD) {
            queryLanes.forward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, lse, lseOff);
            return;
        }
        Layout lay = Layout.of(s.tokens(), s.headDim());
        Parallel.forEach(s.batch() * s.heads(), bh -> {
            int b = bh / s.heads(), h = bh % s.heads();
            MemorySegment w = scratch.get().get(lay.total());
            long base = b * s.sB() + h * s.sH();
            packKT(s, k, kOff + base, w, lay.kT(), lay.np(), scratch.get());
            packRows(s, v, vOff + base, w, lay.vP(), lay.np(), lay.dp());
            float[] m = new float[R], l = new float[R], lanes = new float[L];
            for (int i0 = 0; i0 < lay.n(); i0 += R) {
                int rows = Math.min(R, lay.n() - i0);
                packQ(s, q, qOff + base, i0, rows, scale[h], w, lay.qb(), lay.d());
                java.util.Arrays.fill(m, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(l, 0f);
                zero(w, lay.ob(), (long) R * lay.dp());
                for (int j0 = 0; j0 < lay.np(); j0 += BC) {
                    int bc = Math.min(BC, lay.np() - j0);
                    scores(w, lay.qb(), lay.d(), lay.kT(), lay.np(), lay.d(), j0, bc, lay.st());
                    for (int r = 0; r < R; r++) {
                        long srow = lay.st() + (long) r * BC;
                        if (r >= rows) {
                            zero(w, srow, (long) BC);
                            continue;
                        }
                        if (mask != null) addMask(w, srow, mask, maskOff + (long) (i0 + r) * lay.n(), j0, Math.min(bc, lay.n() - j0), 1f);
                        for (int j = Math.max(0, lay.n() - j0); j < bc; j++) w.setAtIndex(F, srow + j, Float.NEGATIVE_INFINITY);
                        float mNew = Math.max(m[r], SimdKernels.max(w, srow, bc, lanes));
                        if (mNew == Float.NEGATIVE_INFINITY) {
                            zero(w, srow, (long) bc);
                            continue;
                        }
                        float corr = (float) Math.exp(m[r] - mNew);
                        l[r] = l[r] * corr + expRow(w, srow, bc, mNew);
                        m[r] = mNew;
                        if (corr != 1f) scaleRow(w, lay.ob() + (long) r * lay.dp(), lay.dp(), corr);
                        // After the row sum: the log-sum-exp is of the undropped probabilities.
                        if (dropout.active()) dropRow(w, srow, Math.min(bc, lay.n() - j0), dropout, bh, i0 + r, j0);
                    }
                    accumulatePV(w, lay.st(), lay.vP(), lay.dp(), j0, bc, lay.ob());
                }
                for (int r = 0; r < rows; r++) {
                    float inv = l[r] > 0 ? 1f / l[r] : 0f;
                    long orow = oOff + b * s.oB() + (i0 + r) * s.oN() + h * s.oH();
                    writeRow(w, lay.ob() + (long) r * lay.dp(), o, orow, lay.d(), inv);
                    lse.setAtIndex(F, lseOff + (long) bh * lay.n() + i0 + r, l[r] > 0 ? (float) (m[r] + Math.log(l[r])) : Float.NEGATIVE_INFINITY);
                }
            }
        }, q, k, v, mask, o, lse);
    }

    /** R rows of Q (times scale), zero rows past the end, into qb[R x d]. */
    private static void packQ(AttentionShape s, MemorySegment q, long base, int i0, int rows, float scale, MemorySegment w, long qb, int d) {
        // Loops bounded by rows, not R with a test inside: C2 may hoist a bounds check for all R rows out of such a loop,
        // and it fails (a deoptimization per call) where the tensor ends within R rows (see QueryLaneAttention.finish).
        for (int r = 0; r < rows; r++) {
            long dst = qb + (long) r * d, src = base + (i0 + r) * s.sN();
            int t = 0;
            for (; t <= d - L; t += L) FloatVector.fromMemorySegment(S, q, (src + t) * 4, NO).mul(scale).intoMemorySegment(w, (dst + t) * 4, NO);
            for (; t < d; t++) w.setAtIndex(F, dst + t, scale * q.getAtIndex(F, src + t));
        }
        zero(w, qb + (long) rows * d, (long) (R - rows) * d);
    }

    /** dst[t] = f * src[t] for t < d: one finished output row. */
    private static void writeRow(MemorySegment w, long src, MemorySegment dst, long dstOff, int d, float f) {
        int t = 0;
        for (; t <= d - L; t += L) FloatVector.fromMemorySegment(S, w, (src + t) * 4, NO).mul(f).intoMemorySegment(dst, (dstOff + t) * 4, NO);
        for (; t < d; t++) dst.setAtIndex(F, dstOff + t, f * w.getAtIndex(F, src + t));
    }

    /** row = exp(row - max) in place; returns the sum. */
    private static float expRow(MemorySegment w, long row, int bc, float max) {
        return SimdMath.expShift(w, row, w, row, bc, max, true);
    }

    private static void scaleRow(MemorySegment w, long row, int len, float f) {
        for (int c = 0; c < len; c += L) FloatVector.fromMemorySegment(S, w, (row + c) * 4, NO).mul(f).intoMemorySegment(w, (row + c) * 4, NO);
    }

    /** st[R x bc] = qb[R x d] (rows qs apart) * kT[d x (j0..j0+bc)], two vectors of columns at a time (8 accumulators). */
    private static void scores(MemorySegment w, long qb, int qs, long kT, int np, int d, int j0, int bc, long st) {
        int j = 0;
        for (; j + 2 * L <= bc; j += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S), a11 = FloatVector.zero(S);
            FloatVector a20 = FloatVector.zero(S), a21 = FloatVector.zero(S), a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
            long kp = kT + j0 + j;
            for (int t = 0; t < d; t++, kp += np) {
                FloatVector k0 = FloatVector.fromMemorySegment(S, w, kp * 4, NO), k1 = FloatVector.fromMemorySegment(S, w, (kp + L) * 4, NO);
                FloatVector q0 = FloatVector.broadcast(S, w.getAtIndex(F, qb + t));
                FloatVector q1 = FloatVector.broadcast(S, w.getAtIndex(F, qb + qs + t));
                FloatVector q2 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 2L * qs + t));
                FloatVector q3 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 3L * qs + t));
                a00 = q0.fma(k0, a00); a01 = q0.fma(k1, a01);
                a10 = q1.fma(k0, a10); a11 = q1.fma(k1, a11);
                a20 = q2.fma(k0, a20); a21 = q2.fma(k1, a21);
                a30 = q3.fma(k0, a30); a31 = q3.fma(k1, a31);
            }
            a00.intoMemorySegment(w, (st + j) * 4, NO); a01.intoMemorySegment(w, (st + j + L) * 4, NO);
            a10.intoMemorySegment(w, (st + BC + j) * 4, NO); a11.intoMemorySegment(w, (st + BC + j + L) * 4, NO);
            a20.intoMemorySegment(w, (st + 2L * BC + j) * 4, NO); a21.intoMemorySegment(w, (st + 2L * BC + j + L) * 4, NO);
            a30.intoMemorySegment(w, (st + 3L * BC + j) * 4, NO); a31.intoMemorySegment(w, (st + 3L * BC + j + L) * 4, NO);
        }
        for (; j < bc; j += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S), a3 = FloatVector.zero(S);
            long kp = kT + j0 + j;
            for (int t = 0; t < d; t++, kp += np) {
                FloatVector k0 = FloatVector.fromMemorySegment(S, w, kp * 4, NO);
                a0 = FloatVector.broadcast(S, w.getAtIndex(F, qb + t)).fma(k0, a0);
                a1 = FloatVector.broadcast(S, w.getAtIndex(F, qb + qs + t)).fma(k0, a1);
                a2 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 2L * qs + t)).fma(k0, a2);
                a3 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 3L * qs + t)).fma(k0, a3);
            }
            a0.intoMemorySegment(w, (st + j) * 4, NO); a1.intoMemorySegment(w, (st + BC + j) * 4, NO); a2.intoMemorySegment(w, (st + 2L * BC + j) * 4, NO); a3.intoMemorySegment(w, (st + 3L * BC + j) * 4, NO);
        }
    }

    /** ob[R x dp] += st[R x bc] * vP[(j0..j0+bc) x dp], one vector of output columns at a time (4 accumulators). */
    private static void accumulatePV(MemorySegment w, long st, long vP, int dp, int j0, int bc, long ob) {
        int c = 0;
        for (; c + 2 * L <= dp; c += 2 * L) {
            FloatVector o00 = FloatVector.fromMemorySegment(S, w, (ob + c) * 4, NO), o01 = FloatVector.fromMemorySegment(S, w, (ob + c + L) * 4, NO);
            FloatVector o10 = FloatVector.fromMemorySegment(S, w, (ob + dp + c) * 4, NO), o11 = FloatVector.fromMemorySegment(S, w, (ob + dp + c + L) * 4, NO);
            FloatVector o20 = FloatVector.fromMemorySegment(S, w, (ob + 2L * dp + c) * 4, NO), o21 = FloatVector.fromMemorySegment(S, w, (ob + 2L * dp + c + L) * 4, NO);
            FloatVector o30 = FloatVector.fromMemorySegment(S, w, (ob + 3L * dp + c) * 4, NO), o31 = FloatVector.fromMemorySegment(S, w, (ob + 3L * dp + c + L) * 4, NO);
            long vp = vP + (long) j0 * dp + c;
            for (int j = 0; j < bc; j++, vp += dp) {
                FloatVector v0 = FloatVector.fromMemorySegment(S, w, vp * 4, NO), v1 = FloatVector.fromMemorySegment(S, w, (vp + L) * 4, NO);
                FloatVector p0 = FloatVector.broadcast(S, w.getAtIndex(F, st + j));
                FloatVector p1 = FloatVector.broadcast(S, w.getAtIndex(F, st + BC + j));
                FloatVector p2 = FloatVector.broadcast(S, w.getAtIndex(F, st + 2L * BC + j));
                FloatVector p3 = FloatVector.broadcast(S, w.getAtIndex(F, st + 3L * BC + j));
                o00 = p0.fma(v0, o00); o01 = p0.fma(v1, o01);
                o10 = p1.fma(v0, o10); o11 = p1.fma(v1, o11);
                o20 = p2.fma(v0, o20); o21 = p2.fma(v1, o21);
                o30 = p3.fma(v0, o30); o31 = p3.fma(v1, o31);
            }
            o00.intoMemorySegment(w, (ob + c) * 4, NO); o01.intoMemorySegment(w, (ob + c + L) * 4, NO);
            o10.intoMemorySegment(w, (ob + dp + c) * 4, NO); o11.intoMemorySegment(w, (ob + dp + c + L) * 4, NO);
            o20.intoMemorySegment(w, (ob + 2L * dp + c) * 4, NO); o21.intoMemorySegment(w, (ob + 2L * dp + c + L) * 4, NO);
            o30.intoMemorySegment(w, (ob + 3L * dp + c) * 4, NO); o31.intoMemorySegment(w, (ob + 3L * dp + c + L) * 4, NO);
        }
        if (c < dp) accumulatePVColumn(w, st, vP, dp, j0, bc, ob, c);
    }

    /**
     * accumulatePV for the last vector of columns when dp is an odd number of vectors. A method of its own: in one
     * 1175-byte method C1 ran out of virtual registers, and the tiered policy then never had C2 compile it.
     */
    private static void accumulatePVColumn(MemorySegment w, long st, long vP, int dp, int j0, int bc, long ob, int c) {
        {
            FloatVector o0 = FloatVector.fromMemorySegment(S, w, (ob + c) * 4, NO), o1 = FloatVector.fromMemorySegment(S, w, (ob + dp + c) * 4, NO), o2 = FloatVector.fromMemorySegment(S, w, (ob + 2L * dp + c) * 4, NO), o3 = FloatVector.fromMemorySegment(S, w, (ob + 3L * dp + c) * 4, NO);
            long vp = vP + (long) j0 * dp + c;
            for (int j = 0; j < bc; j++, vp += dp) {
                FloatVector v0 = FloatVector.fromMemorySegment(S, w, vp * 4, NO);
                o0 = FloatVector.broadcast(S, w.getAtIndex(F, st + j)).fma(v0, o0);
                o1 = FloatVector.broadcast(S, w.getAtIndex(F, st + BC + j)).fma(v0, o1);
                o2 = FloatVector.broadcast(S, w.getAtIndex(F, st + 2L * BC + j)).fma(v0, o2);
                o3 = FloatVector.broadcast(S, w.getAtIndex(F, st + 3L * BC + j)).fma(v0, o3);
            }
            o0.intoMemorySegment(w, (ob + c) * 4, NO); o1.intoMemorySegment(w, (ob + dp + c) * 4, NO); o2.intoMemorySegment(w, (ob + 2L * dp + c) * 4, NO); o3.intoMemorySegment(w, (ob + 3L * dp + c) * 4, NO);
        }
    }

    /** srow[j] = f * srow[j] + mask[mrow + j0 + j] for the first {@code valid} columns. */
    private static void addMask(MemorySegment w, long srow, MemorySegment mask, long mrow, int j0, int valid, float f) {
        int j = 0;
        for (; j <= valid - L; j += L) FloatVector.fromMemorySegment(S, w, (srow + j) * 4, NO).mul(f).add(FloatVector.fromMemorySegment(S, mask, (mrow + j0 + j) * 4, NO)).intoMemorySegment(w, (srow + j) * 4, NO);
        for (; j < valid; j++) w.setAtIndex(F, srow + j, f * w.getAtIndex(F, srow + j) + mask.getAtIndex(F, mrow + j0 + j));
    }

    /** K rows of one head transposed into kT[d x np], columns past n zeroed. */
    private static void packKT(AttentionShape s, MemorySegment k, long base, MemorySegment w, long kT, int np, Scratch room) {
        // Through heap arrays: bulk copies in and out, the transpose itself on float[]. Element by element on
        // segments it took ~5 ns per float, 9% of a D=128 training step.
        int n = s.tokens(), d = s.headDim();
        float[] rows = room.transposeRoom(n, d, np).rows, cols = room.cols;
        for (int j = 0; j < n; j++) MemorySegment.copy(k, F, (base + j * s.sN()) * 4, rows, j * d, d);
        for (int t = 0; t < d; t++) {
            int o = t * np;
            for (int j = 0; j < n; j++) cols[o + j] = rows[j * d + t];
            java.util.Arrays.fill(cols, o + n, o + np, 0f);
        }
        MemorySegment.copy(cols, 0, w, F, kT * 4, d * np);
    }

    /** Rows of one head into rows[np x dp], padding zeroed. */
    private static void packRows(AttentionShape s, MemorySegment x, long base, MemorySegment w, long dst, int np, int dp) {
        QueryLaneAttention.packRows(x, base, s.sN(), s.tokens(), s.headDim(), w, dst, np, dp);
    }

    // ---------------------------------------------------------------- backward

    void backward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                  float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout, MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                  MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                  MemorySegment dv, long dvOff, double[] dScale, boolean add) {
        if (!dropout.active() && !ROW_FORWARD) {
            queryLanes.backward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, dO, dOOff, lse, lseOff, dq, dqOff, dk, dkOff, dv, dvOff, dScale, add);
            return;
        }
        Layout lay = Layout.of(s.tokens(), s.headDim());
        double[] perHead = new double[s.batch() * s.heads()];
        Parallel.forEach(s.batch() * s.heads(), bh -> {
            int b = bh / s.heads(), h = bh % s.heads();
            MemorySegment w = scratch.get().get(lay.total());
            long base = b * s.sB() + h * s.sH(), obase = b * s.oB() + h * s.oH();
            int n = lay.n(), d = lay.d(), np = lay.np(), dp = lay.dp();
            float sc = scale[h];
            packKT(s, k, kOff + base, w, lay.kT(), np, scratch.get());
            packKT(s, v, vOff + base, w, lay.vT(), np, scratch.get());
            packRows(s, k, kOff + base, w, lay.kP(), np, dp);
            zero(w, lay.dK(), 2L * np * dp);
            float[] lrow = new float[R], di = new float[R], lanes = new float[L];
            double ds = 0;
            // qb holds R rows of Q (unscaled), ob R rows of dO, each padded to dp; st gets P, st2 dP then dS.
            for (int i0 = 0; i0 < n; i0 += R) {
                int rows = Math.min(R, n - i0);
                packRowBlock(q, qOff + base, s.sN(), i0, rows, d, w, lay.qb(), dp);
                packRowBlock(dO, dOOff + obase, s.oN(), i0, rows, d, w, lay.ob(), dp);
                java.util.Arrays.fill(lrow, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(di, 0f);
                // To rows, not R with a test inside (see packQ).
                for (int r = 0; r < rows; r++) {
                    lrow[r] = lse.getAtIndex(F, lseOff + (long) bh * n + i0 + r);
                    long orow = oOff + obase + (i0 + r) * s.oN();
                    for (int t = 0; t < d; t++) di[r] += w.getAtIndex(F, lay.ob() + (long) r * dp + t) * o.getAtIndex(F, orow + t);
                }
                zero(w, lay.dqb(), (long) R * dp);
                for (int j0 = 0; j0 < np; j0 += BC) {
                    int bc = Math.min(BC, np - j0);
                    scores(w, lay.qb(), dp, lay.kT(), np, d, j0, bc, lay.st());   // raw = q k
                    scores(w, lay.ob(), dp, lay.vT(), np, d, j0, bc, lay.st2());  // dP = dO v
                    for (int r = 0; r < R; r++) {
                        long prow = lay.st() + (long) r * BC, drow = lay.st2() + (long) r * BC;
                        if (lrow[r] == Float.NEGATIVE_INFINITY) {
                            zero(w, prow, (long) BC);
                            zero(w, drow, (long) BC);
                            continue;
                        }
                        long fr = -1;
                        if (dropout.active()) {
                            fr = lay.fr();
                            for (int j = 0; j < Math.min(bc, n - j0); j++) w.setAtIndex(F, fr + j, dropout.factor(bh, i0 + r, j0 + j));
                        }
                        ds += probsAndDs(w, prow, drow, lay.pt(), fr, bc, sc, lrow[r], di[r], mask, maskOff + (long) (i0 + r) * n, j0, n, lanes);
                    }
                    // dQ rows += sc * dS K ; dV += P^T dO ; dK += sc * dS^T Q
                    accumulatePV(w, lay.st2(), lay.kP(), dp, j0, bc, lay.dqb());
                    rankUpdate(w, lay.st(), lay.ob(), dp, j0, Math.min(bc, n - j0), lay.dV(), 1f);
                    rankUpdate(w, lay.st2(), lay.qb(), dp, j0, Math.min(bc, n - j0), lay.dK(), sc);
                }
                for (int r = 0; r < rows; r++) addScaled(w, lay.dqb() + (long) r * dp, dq, dqOff + base + (i0 + r) * s.sN(), d, sc, add);
            }
            for (int j = 0; j < n; j++) {
                long krow = base + j * s.sN();
                addScaled(w, lay.dK() + (long) j * dp, dk, dkOff + krow, d, 1f, add);
                addScaled(w, lay.dV() + (long) j * dp, dv, dvOff + krow, d, 1f, add);
            }
            perHead[bh] = ds;
        }, q, k, v, mask, o, dO, lse, dq, dk, dv);
        if (dScale != null) for (int bh = 0; bh < perHead.length; bh++) dScale[bh % s.heads()] += perHead[bh];
    }

    /** R rows of x (row stride sN) into dst[R x dp], zero-padded. */
    private static void packRowBlock(MemorySegment x, long base, long sN, int i0, int rows, int d, MemorySegment w, long dst, int dp) {
        zero(w, dst, (long) R * dp);
        for (int r = 0; r < rows; r++) MemorySegment.copy(x, (base + (i0 + r) * sN) * 4, w, (dst + (long) r * dp) * 4, (long) d * 4);
    }

    /**
     * From raw scores (prow) and dP (drow) of one query row: prow = P = exp(sc*raw + mask - lse), drow = dS = P (dP - D).
     * Columns past n become 0. Returns sum(dS * raw), the row's share of d loss / d scale. pt: bc floats of scratch for
     * the exponent, so that raw survives for that sum. With dropout, fr (else -1) holds the row's factors F: O was
     * (F . P) V, so prow gets F . P (for dV) and dS = P (F dP - D).
     */
    private static double probsAndDs(MemorySegment w, long prow, long drow, long pt, long fr, int bc, float sc, float lse, float di,
                                     MemorySegment mask, long mrow, int j0, int n, float[] lanes) {
        int valid = Math.max(0, Math.min(bc, n - j0));
        int vecEnd = valid / L * L;
        for (int j = 0; j < vecEnd; j += L) {
            FloatVector sj = FloatVector.fromMemorySegment(S, w, (prow + j) * 4, NO).mul(sc);
            if (mask != null) sj = sj.add(FloatVector.fromMemorySegment(S, mask, (mrow + j0 + j) * 4, NO));
            sj.intoMemorySegment(w, (pt + j) * 4, NO);
        }
        for (int j = vecEnd; j < valid; j++) {
            w.setAtIndex(F, pt + j, sc * w.getAtIndex(F, prow + j) + (mask == null ? 0f : mask.getAtIndex(F, mrow + j0 + j)));
        }
        SimdMath.expShift(w, pt, w, pt, valid, lse, false);
        FloatVector acc = FloatVector.zero(S);
        for (int j = 0; j < vecEnd; j += L) {
            FloatVector raw = FloatVector.fromMemorySegment(S, w, (prow + j) * 4, NO);
            FloatVector p = FloatVector.fromMemorySegment(S, w, (pt + j) * 4, NO);
            FloatVector dP = FloatVector.fromMemorySegment(S, w, (drow + j) * 4, NO);
            if (fr >= 0) {
                FloatVector f = FloatVector.fromMemorySegment(S, w, (fr + j) * 4, NO);
                dP = dP.mul(f);
                f.mul(p).intoMemorySegment(w, (prow + j) * 4, NO);
            } else {
                p.intoMemorySegment(w, (prow + j) * 4, NO);
            }
            FloatVector dsv = p.mul(dP.sub(di));
            dsv.intoMemorySegment(w, (drow + j) * 4, NO);
            acc = dsv.fma(raw, acc);
        }
        acc.intoArray(lanes, 0);
        double sum = SimdMath.sum(lanes);
        for (int j = vecEnd; j < valid; j++) {
            float raw = w.getAtIndex(F, prow + j);
            float p = w.getAtIndex(F, pt + j), f = fr >= 0 ? w.getAtIndex(F, fr + j) : 1f;
            float dsv = p * (f * w.getAtIndex(F, drow + j) - di);
            w.setAtIndex(F, prow + j, f * p);
            w.setAtIndex(F, drow + j, dsv);
            sum += dsv * raw;
        }
        for (int j = valid; j < bc; j++) {
            w.setAtIndex(F, prow + j, 0f);
            w.setAtIndex(F, drow + j, 0f);
        }
        return sum;
    }

    /** P[i][j0 + j] *= dropout factor for the row's first {@code valid} columns, before P V. */
    private static void dropRow(MemorySegment w, long srow, int valid, AttentionDropout dropout, long bh, int i, int j0) {
        for (int j = 0; j < valid; j++) w.setAtIndex(F, srow + j, w.getAtIndex(F, srow + j) * dropout.factor(bh, i, j0 + j));
    }

    /**
     * dst[(j0 + j) x dp] += f * sum_r pr[r][j] * x[r][:] for j < cols: a rank-R update of dK or dV rows. Two vectors of
     * columns at a time with the R rows of x held in registers, so that each dst row is loaded and stored once per
     * pair of vectors; x reloaded for every j had made this a load-bound loop (6 memory operations per 4 FMAs).
     */
    private static void rankUpdate(MemorySegment w, long pr, long xb, int dp, int j0, int cols, long dst, float f) {
        int c = 0;
        for (; c + 2 * L <= dp; c += 2 * L) {
            FloatVector x00 = FloatVector.fromMemorySegment(S, w, (xb + c) * 4, NO).mul(f), x01 = FloatVector.fromMemorySegment(S, w, (xb + c + L) * 4, NO).mul(f);
            FloatVector x10 = FloatVector.fromMemorySegment(S, w, (xb + dp + c) * 4, NO).mul(f), x11 = FloatVector.fromMemorySegment(S, w, (xb + dp + c + L) * 4, NO).mul(f);
            FloatVector x20 = FloatVector.fromMemorySegment(S, w, (xb + 2L * dp + c) * 4, NO).mul(f), x21 = FloatVector.fromMemorySegment(S, w, (xb + 2L * dp + c + L) * 4, NO).mul(f);
            FloatVector x30 = FloatVector.fromMemorySegment(S, w, (xb + 3L * dp + c) * 4, NO).mul(f), x31 = FloatVector.fromMemorySegment(S, w, (xb + 3L * dp + c + L) * 4, NO).mul(f);
            long row = dst + (long) j0 * dp + c;
            for (int j = 0; j < cols; j++, row += dp) {
                FloatVector p0 = FloatVector.broadcast(S, w.getAtIndex(F, pr + j));
                FloatVector p1 = FloatVector.broadcast(S, w.getAtIndex(F, pr + BC + j));
                FloatVector p2 = FloatVector.broadcast(S, w.getAtIndex(F, pr + 2L * BC + j));
                FloatVector p3 = FloatVector.broadcast(S, w.getAtIndex(F, pr + 3L * BC + j));
                FloatVector a0 = FloatVector.fromMemorySegment(S, w, row * 4, NO), a1 = FloatVector.fromMemorySegment(S, w, (row + L) * 4, NO);
                a0 = p0.fma(x00, a0); a1 = p0.fma(x01, a1);
                a0 = p1.fma(x10, a0); a1 = p1.fma(x11, a1);
                a0 = p2.fma(x20, a0); a1 = p2.fma(x21, a1);
                a0 = p3.fma(x30, a0); a1 = p3.fma(x31, a1);
                a0.intoMemorySegment(w, row * 4, NO); a1.intoMemorySegment(w, (row + L) * 4, NO);
            }
        }
        if (c < dp) rankUpdateColumn(w, pr, xb, dp, j0, cols, dst, f, c);
    }

    /** rankUpdate for the last vector of columns when dp is an odd number of vectors (its own method, for C1). */
    private static void rankUpdateColumn(MemorySegment w, long pr, long xb, int dp, int j0, int cols, long dst, float f, int c) {
        FloatVector x0 = FloatVector.fromMemorySegment(S, w, (xb + c) * 4, NO).mul(f), x1 = FloatVector.fromMemorySegment(S, w, (xb + dp + c) * 4, NO).mul(f);
        FloatVector x2 = FloatVector.fromMemorySegment(S, w, (xb + 2L * dp + c) * 4, NO).mul(f), x3 = FloatVector.fromMemorySegment(S, w, (xb + 3L * dp + c) * 4, NO).mul(f);
        long row = dst + (long) j0 * dp + c;
        for (int j = 0; j < cols; j++, row += dp) {
            FloatVector a = FloatVector.fromMemorySegment(S, w, row * 4, NO);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pr + j)).fma(x0, a);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pr + BC + j)).fma(x1, a);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pr + 2L * BC + j)).fma(x2, a);
            a = FloatVector.broadcast(S, w.getAtIndex(F, pr + 3L * BC + j)).fma(x3, a);
            a.intoMemorySegment(w, row * 4, NO);
        }
    }

    /** dst[t] += f * w[src + t] for t < d, or = without add (each head's gradient rows are stored once); the query-lane kernel's too. */
    static void addScaled(MemorySegment w, long src, MemorySegment dst, long dstOff, int d, float f, boolean add) {
        int t = 0;
        for (; t <= d - L; t += L) {
            FloatVector x = FloatVector.fromMemorySegment(S, w, (src + t) * 4, NO).mul(f);
            (add ? x.add(FloatVector.fromMemorySegment(S, dst, (dstOff + t) * 4, NO)) : x).intoMemorySegment(dst, (dstOff + t) * 4, NO);
        }
        for (; t < d; t++) dst.setAtIndex(F, dstOff + t, (add ? dst.getAtIndex(F, dstOff + t) : 0f) + f * w.getAtIndex(F, src + t));
    }
}
