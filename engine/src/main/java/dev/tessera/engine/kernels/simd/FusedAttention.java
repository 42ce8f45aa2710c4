package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.MAX;

import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.Parallel;
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

        MemorySegment get(long floats) {
            if (seg.byteSize() < floats * 4) seg = OffHeap.allocateFloats(ARENA, floats);
            return seg;
        }
    }

    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    private static FloatVector load(MemorySegment s, long i) { return FloatVector.fromMemorySegment(S, s, i * 4, NO); }
    private static void store(FloatVector v, MemorySegment s, long i) { v.intoMemorySegment(s, i * 4, NO); }
    private static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

    // ---------------------------------------------------------------- forward

    /** Scratch layout of one head, in floats; every method below takes offsets into one segment. */
    private record Layout(int n, int d, int np, int dp, long kT, long vT, long kP, long vP, long qb, long ob, long st, long st2,
                          long dK, long dV, long dqb, long total) {
        static Layout of(int n, int d) {
            int np = roundUp(n, L), dp = roundUp(d, L);
            long kT = 0, vT = kT + (long) d * np, kP = vT + (long) d * np, vP = kP + (long) np * dp;
            long qb = vP + (long) np * dp, ob = qb + (long) R * dp, st = ob + (long) R * dp, st2 = st + (long) R * BC;
            long dK = st2 + (long) R * BC, dV = dK + (long) np * dp;
            long dqb = dV + (long) np * dp;
            return new Layout(n, d, np, dp, kT, vT, kP, vP, qb, ob, st, st2, dK, dV, dqb, dqb + (long) R * dp);
        }
    }

    void forward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                 float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        Layout lay = Layout.of(s.tokens(), s.headDim());
        Parallel.forEach(s.batch() * s.heads(), bh -> {
            int b = bh / s.heads(), h = bh % s.heads();
            MemorySegment w = scratch.get().get(lay.total());
            long base = b * s.sB() + h * s.sH();
            packKT(s, k, kOff + base, w, lay.kT(), lay.np());
            packRows(s, v, vOff + base, w, lay.vP(), lay.np(), lay.dp());
            float[] m = new float[R], l = new float[R];
            for (int i0 = 0; i0 < lay.n(); i0 += R) {
                int rows = Math.min(R, lay.n() - i0);
                packQ(s, q, qOff + base, i0, rows, scale[h], w, lay.qb(), lay.d());
                java.util.Arrays.fill(m, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(l, 0f);
                w.asSlice(lay.ob() * 4, (long) R * lay.dp() * 4).fill((byte) 0);
                for (int j0 = 0; j0 < lay.np(); j0 += BC) {
                    int bc = Math.min(BC, lay.np() - j0);
                    scores(w, lay.qb(), lay.d(), lay.kT(), lay.np(), lay.d(), j0, bc, lay.st());
                    for (int r = 0; r < R; r++) {
                        long srow = lay.st() + (long) r * BC;
                        if (r >= rows) {
                            w.asSlice(srow * 4, (long) BC * 4).fill((byte) 0);
                            continue;
                        }
                        if (mask != null) addMask(w, srow, mask, maskOff + (long) (i0 + r) * lay.n(), j0, Math.min(bc, lay.n() - j0), 1f);
                        for (int j = Math.max(0, lay.n() - j0); j < bc; j++) w.setAtIndex(F, srow + j, Float.NEGATIVE_INFINITY);
                        float mNew = Math.max(m[r], rowMax(w, srow, bc));
                        if (mNew == Float.NEGATIVE_INFINITY) {
                            w.asSlice(srow * 4, (long) bc * 4).fill((byte) 0);
                            continue;
                        }
                        float corr = (float) Math.exp(m[r] - mNew);
                        l[r] = l[r] * corr + expRow(w, srow, bc, mNew);
                        m[r] = mNew;
                        if (corr != 1f) scaleRow(w, lay.ob() + (long) r * lay.dp(), lay.dp(), corr);
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
        for (int r = 0; r < R; r++) {
            long dst = qb + (long) r * d, src = base + (i0 + r) * s.sN();
            int t = 0;
            if (r < rows) {
                for (; t <= d - L; t += L) store(load(q, src + t).mul(scale), w, dst + t);
                for (; t < d; t++) w.setAtIndex(F, dst + t, scale * q.getAtIndex(F, src + t));
            } else {
                for (; t < d; t++) w.setAtIndex(F, dst + t, 0f);
            }
        }
    }

    /** dst[t] = f * src[t] for t < d: one finished output row. */
    private static void writeRow(MemorySegment w, long src, MemorySegment dst, long dstOff, int d, float f) {
        int t = 0;
        for (; t <= d - L; t += L) store(load(w, src + t).mul(f), dst, dstOff + t);
        for (; t < d; t++) dst.setAtIndex(F, dstOff + t, f * w.getAtIndex(F, src + t));
    }

    private static float rowMax(MemorySegment w, long row, int bc) {
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < bc; j += L) vmax = vmax.max(load(w, row + j));
        return vmax.reduceLanes(MAX);
    }

    /** row = exp(row - max) in place; returns the sum. */
    private static float expRow(MemorySegment w, long row, int bc, float max) {
        FloatVector vsum = FloatVector.zero(S);
        for (int j = 0; j < bc; j += L) {
            FloatVector p = SimdMath.exp(load(w, row + j).sub(max));
            store(p, w, row + j);
            vsum = vsum.add(p);
        }
        return SimdMath.sum(vsum);
    }

    private static void scaleRow(MemorySegment w, long row, int len, float f) {
        for (int c = 0; c < len; c += L) store(load(w, row + c).mul(f), w, row + c);
    }

    /** st[R x bc] = qb[R x d] (rows qs apart) * kT[d x (j0..j0+bc)], two vectors of columns at a time (8 accumulators). */
    private static void scores(MemorySegment w, long qb, int qs, long kT, int np, int d, int j0, int bc, long st) {
        int j = 0;
        for (; j + 2 * L <= bc; j += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S), a11 = FloatVector.zero(S);
            FloatVector a20 = FloatVector.zero(S), a21 = FloatVector.zero(S), a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
            long kp = kT + j0 + j;
            for (int t = 0; t < d; t++, kp += np) {
                FloatVector k0 = load(w, kp), k1 = load(w, kp + L);
                FloatVector q0 = FloatVector.broadcast(S, w.getAtIndex(F, qb + t));
                FloatVector q1 = FloatVector.broadcast(S, w.getAtIndex(F, qb + qs + t));
                FloatVector q2 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 2L * qs + t));
                FloatVector q3 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 3L * qs + t));
                a00 = q0.fma(k0, a00); a01 = q0.fma(k1, a01);
                a10 = q1.fma(k0, a10); a11 = q1.fma(k1, a11);
                a20 = q2.fma(k0, a20); a21 = q2.fma(k1, a21);
                a30 = q3.fma(k0, a30); a31 = q3.fma(k1, a31);
            }
            store(a00, w, st + j); store(a01, w, st + j + L);
            store(a10, w, st + BC + j); store(a11, w, st + BC + j + L);
            store(a20, w, st + 2L * BC + j); store(a21, w, st + 2L * BC + j + L);
            store(a30, w, st + 3L * BC + j); store(a31, w, st + 3L * BC + j + L);
        }
        for (; j < bc; j += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S), a3 = FloatVector.zero(S);
            long kp = kT + j0 + j;
            for (int t = 0; t < d; t++, kp += np) {
                FloatVector k0 = load(w, kp);
                a0 = FloatVector.broadcast(S, w.getAtIndex(F, qb + t)).fma(k0, a0);
                a1 = FloatVector.broadcast(S, w.getAtIndex(F, qb + qs + t)).fma(k0, a1);
                a2 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 2L * qs + t)).fma(k0, a2);
                a3 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 3L * qs + t)).fma(k0, a3);
            }
            store(a0, w, st + j); store(a1, w, st + BC + j); store(a2, w, st + 2L * BC + j); store(a3, w, st + 3L * BC + j);
        }
    }

    /** ob[R x dp] += st[R x bc] * vP[(j0..j0+bc) x dp], one vector of output columns at a time (4 accumulators). */
    private static void accumulatePV(MemorySegment w, long st, long vP, int dp, int j0, int bc, long ob) {
        int c = 0;
        for (; c + 2 * L <= dp; c += 2 * L) {
            FloatVector o00 = load(w, ob + c), o01 = load(w, ob + c + L);
            FloatVector o10 = load(w, ob + dp + c), o11 = load(w, ob + dp + c + L);
            FloatVector o20 = load(w, ob + 2L * dp + c), o21 = load(w, ob + 2L * dp + c + L);
            FloatVector o30 = load(w, ob + 3L * dp + c), o31 = load(w, ob + 3L * dp + c + L);
            long vp = vP + (long) j0 * dp + c;
            for (int j = 0; j < bc; j++, vp += dp) {
                FloatVector v0 = load(w, vp), v1 = load(w, vp + L);
                FloatVector p0 = FloatVector.broadcast(S, w.getAtIndex(F, st + j));
                FloatVector p1 = FloatVector.broadcast(S, w.getAtIndex(F, st + BC + j));
                FloatVector p2 = FloatVector.broadcast(S, w.getAtIndex(F, st + 2L * BC + j));
                FloatVector p3 = FloatVector.broadcast(S, w.getAtIndex(F, st + 3L * BC + j));
                o00 = p0.fma(v0, o00); o01 = p0.fma(v1, o01);
                o10 = p1.fma(v0, o10); o11 = p1.fma(v1, o11);
                o20 = p2.fma(v0, o20); o21 = p2.fma(v1, o21);
                o30 = p3.fma(v0, o30); o31 = p3.fma(v1, o31);
            }
            store(o00, w, ob + c); store(o01, w, ob + c + L);
            store(o10, w, ob + dp + c); store(o11, w, ob + dp + c + L);
            store(o20, w, ob + 2L * dp + c); store(o21, w, ob + 2L * dp + c + L);
            store(o30, w, ob + 3L * dp + c); store(o31, w, ob + 3L * dp + c + L);
        }
        for (; c < dp; c += L) {
            FloatVector o0 = load(w, ob + c), o1 = load(w, ob + dp + c), o2 = load(w, ob + 2L * dp + c), o3 = load(w, ob + 3L * dp + c);
            long vp = vP + (long) j0 * dp + c;
            for (int j = 0; j < bc; j++, vp += dp) {
                FloatVector v0 = load(w, vp);
                o0 = FloatVector.broadcast(S, w.getAtIndex(F, st + j)).fma(v0, o0);
                o1 = FloatVector.broadcast(S, w.getAtIndex(F, st + BC + j)).fma(v0, o1);
                o2 = FloatVector.broadcast(S, w.getAtIndex(F, st + 2L * BC + j)).fma(v0, o2);
                o3 = FloatVector.broadcast(S, w.getAtIndex(F, st + 3L * BC + j)).fma(v0, o3);
            }
            store(o0, w, ob + c); store(o1, w, ob + dp + c); store(o2, w, ob + 2L * dp + c); store(o3, w, ob + 3L * dp + c);
        }
    }

    /** srow[j] = f * srow[j] + mask[mrow + j0 + j] for the first {@code valid} columns. */
    private static void addMask(MemorySegment w, long srow, MemorySegment mask, long mrow, int j0, int valid, float f) {
        int j = 0;
        for (; j <= valid - L; j += L) store(load(w, srow + j).mul(f).add(load(mask, mrow + j0 + j)), w, srow + j);
        for (; j < valid; j++) w.setAtIndex(F, srow + j, f * w.getAtIndex(F, srow + j) + mask.getAtIndex(F, mrow + j0 + j));
    }

    /** K rows of one head transposed into kT[d x np], columns past n zeroed. */
    private static void packKT(AttentionShape s, MemorySegment k, long base, MemorySegment w, long kT, int np) {
        int n = s.tokens(), d = s.headDim();
        for (int j = 0; j < n; j++) {
            long src = base + j * s.sN();
            for (int t = 0; t < d; t++) w.setAtIndex(F, kT + (long) t * np + j, k.getAtIndex(F, src + t));
        }
        for (int t = 0; t < d; t++) for (int j = n; j < np; j++) w.setAtIndex(F, kT + (long) t * np + j, 0f);
    }

    /** Rows of one head into rows[np x dp], padding zeroed. */
    private static void packRows(AttentionShape s, MemorySegment x, long base, MemorySegment w, long dst, int np, int dp) {
        int n = s.tokens(), d = s.headDim();
        w.asSlice(dst * 4, (long) np * dp * 4).fill((byte) 0);
        for (int j = 0; j < n; j++) MemorySegment.copy(x, (base + j * s.sN()) * 4, w, (dst + (long) j * dp) * 4, (long) d * 4);
    }

    // ---------------------------------------------------------------- backward

    void backward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                  float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                  MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                  MemorySegment dv, long dvOff, double[] dScale) {
        Layout lay = Layout.of(s.tokens(), s.headDim());
        double[] perHead = new double[s.batch() * s.heads()];
        Parallel.forEach(s.batch() * s.heads(), bh -> {
            int b = bh / s.heads(), h = bh % s.heads();
            MemorySegment w = scratch.get().get(lay.total());
            long base = b * s.sB() + h * s.sH(), obase = b * s.oB() + h * s.oH();
            int n = lay.n(), d = lay.d(), np = lay.np(), dp = lay.dp();
            float sc = scale[h];
            packKT(s, k, kOff + base, w, lay.kT(), np);
            packKT(s, v, vOff + base, w, lay.vT(), np);
            packRows(s, k, kOff + base, w, lay.kP(), np, dp);
            w.asSlice(lay.dK() * 4, 2L * np * dp * 4).fill((byte) 0);
            float[] lrow = new float[R], di = new float[R];
            double ds = 0;
            // qb holds R rows of Q (unscaled), ob R rows of dO, each padded to dp; st gets P, st2 dP then dS.
            for (int i0 = 0; i0 < n; i0 += R) {
                int rows = Math.min(R, n - i0);
                packRowBlock(q, qOff + base, s.sN(), i0, rows, d, w, lay.qb(), dp);
                packRowBlock(dO, dOOff + obase, s.oN(), i0, rows, d, w, lay.ob(), dp);
                for (int r = 0; r < R; r++) {
                    lrow[r] = r < rows ? lse.getAtIndex(F, lseOff + (long) bh * n + i0 + r) : Float.NEGATIVE_INFINITY;
                    di[r] = 0f;
                    if (r < rows) {
                        long orow = oOff + obase + (i0 + r) * s.oN();
                        for (int t = 0; t < d; t++) di[r] += w.getAtIndex(F, lay.ob() + (long) r * dp + t) * o.getAtIndex(F, orow + t);
                    }
                }
                w.asSlice(lay.dqb() * 4, (long) R * dp * 4).fill((byte) 0);
                for (int j0 = 0; j0 < np; j0 += BC) {
                    int bc = Math.min(BC, np - j0);
                    scores(w, lay.qb(), dp, lay.kT(), np, d, j0, bc, lay.st());   // raw = q k
                    scores(w, lay.ob(), dp, lay.vT(), np, d, j0, bc, lay.st2());  // dP = dO v
                    for (int r = 0; r < R; r++) {
                        long prow = lay.st() + (long) r * BC, drow = lay.st2() + (long) r * BC;
                        if (lrow[r] == Float.NEGATIVE_INFINITY) {
                            w.asSlice(prow * 4, (long) BC * 4).fill((byte) 0);
                            w.asSlice(drow * 4, (long) BC * 4).fill((byte) 0);
                            continue;
                        }
                        ds += probsAndDs(w, prow, drow, bc, sc, lrow[r], di[r], mask, maskOff + (long) (i0 + r) * n, j0, n);
                    }
                    // dQ rows += sc * dS K ; dV += P^T dO ; dK += sc * dS^T Q
                    accumulatePV(w, lay.st2(), lay.kP(), dp, j0, bc, lay.dqb());
                    rankUpdate(w, lay.st(), lay.ob(), dp, j0, Math.min(bc, n - j0), lay.dV(), 1f);
                    rankUpdate(w, lay.st2(), lay.qb(), dp, j0, Math.min(bc, n - j0), lay.dK(), sc);
                }
                for (int r = 0; r < rows; r++) addScaled(w, lay.dqb() + (long) r * dp, dq, dqOff + base + (i0 + r) * s.sN(), d, sc);
            }
            for (int j = 0; j < n; j++) {
                long krow = base + j * s.sN();
                addScaled(w, lay.dK() + (long) j * dp, dk, dkOff + krow, d, 1f);
                addScaled(w, lay.dV() + (long) j * dp, dv, dvOff + krow, d, 1f);
            }
            perHead[bh] = ds;
        }, q, k, v, mask, o, dO, lse, dq, dk, dv);
        if (dScale != null) for (int bh = 0; bh < perHead.length; bh++) dScale[bh % s.heads()] += perHead[bh];
    }

    /** R rows of x (row stride sN) into dst[R x dp], zero-padded. */
    private static void packRowBlock(MemorySegment x, long base, long sN, int i0, int rows, int d, MemorySegment w, long dst, int dp) {
        w.asSlice(dst * 4, (long) R * dp * 4).fill((byte) 0);
        for (int r = 0; r < rows; r++) MemorySegment.copy(x, (base + (i0 + r) * sN) * 4, w, (dst + (long) r * dp) * 4, (long) d * 4);
    }

    /**
     * From raw scores (prow) and dP (drow) of one query row: prow = P = exp(sc*raw + mask - lse), drow = dS = P (dP - D).
     * Columns past n become 0. Returns sum(dS * raw), the row's share of d loss / d scale.
     */
    private static double probsAndDs(MemorySegment w, long prow, long drow, int bc, float sc, float lse, float di,
                                     MemorySegment mask, long mrow, int j0, int n) {
        int valid = Math.max(0, Math.min(bc, n - j0));
        int vecEnd = valid / L * L;
        FloatVector acc = FloatVector.zero(S);
        for (int j = 0; j < vecEnd; j += L) {
            FloatVector raw = load(w, prow + j);
            FloatVector sj = raw.mul(sc);
            if (mask != null) sj = sj.add(load(mask, mrow + j0 + j));
            FloatVector p = SimdMath.exp(sj.sub(lse));
            FloatVector dsv = p.mul(load(w, drow + j).sub(di));
            store(p, w, prow + j);
            store(dsv, w, drow + j);
            acc = dsv.fma(raw, acc);
        }
        double sum = SimdMath.sum(acc);
        for (int j = vecEnd; j < valid; j++) {
            float raw = w.getAtIndex(F, prow + j);
            float sj = sc * raw + (mask == null ? 0f : mask.getAtIndex(F, mrow + j0 + j));
            float p = (float) Math.exp(sj - lse);
            float dsv = p * (w.getAtIndex(F, drow + j) - di);
            w.setAtIndex(F, prow + j, p);
            w.setAtIndex(F, drow + j, dsv);
            sum += dsv * raw;
        }
        for (int j = valid; j < bc; j++) {
            w.setAtIndex(F, prow + j, 0f);
            w.setAtIndex(F, drow + j, 0f);
        }
        return sum;
    }

    /** dst[(j0 + j) x dp] += f * sum_r pr[r][j] * x[r][:] for j < cols: a rank-R update of dK or dV rows. */
    private static void rankUpdate(MemorySegment w, long pr, long xb, int dp, int j0, int cols, long dst, float f) {
        for (int j = 0; j < cols; j++) {
            FloatVector p0 = FloatVector.broadcast(S, f * w.getAtIndex(F, pr + j));
            FloatVector p1 = FloatVector.broadcast(S, f * w.getAtIndex(F, pr + BC + j));
            FloatVector p2 = FloatVector.broadcast(S, f * w.getAtIndex(F, pr + 2L * BC + j));
            FloatVector p3 = FloatVector.broadcast(S, f * w.getAtIndex(F, pr + 3L * BC + j));
            long row = dst + (long) (j0 + j) * dp;
            for (int c = 0; c < dp; c += L) {
                FloatVector acc = load(w, row + c);
                acc = p0.fma(load(w, xb + c), acc);
                acc = p1.fma(load(w, xb + dp + c), acc);
                acc = p2.fma(load(w, xb + 2L * dp + c), acc);
                acc = p3.fma(load(w, xb + 3L * dp + c), acc);
                store(acc, w, row + c);
            }
        }
    }

    /** dst[t] += f * src[t] for t < d. */
    private static void addScaled(MemorySegment w, long src, MemorySegment dst, long dstOff, int d, float f) {
        int t = 0;
        for (; t <= d - L; t += L) store(load(w, src + t).mul(f).add(load(dst, dstOff + t)), dst, dstOff + t);
        for (; t < d; t++) dst.setAtIndex(F, dstOff + t, dst.getAtIndex(F, dstOff + t) + f * w.getAtIndex(F, src + t));
    }
}
