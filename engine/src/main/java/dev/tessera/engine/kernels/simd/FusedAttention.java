package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.ADD;
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

    void forward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                 float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        int n = s.tokens(), d = s.headDim();
        int np = roundUp(n, L), dp = roundUp(d, L);
        // kT: d x np | vP: np x dp | qb: R x d | st: R x BC | ob: R x dp
        long kT = 0, vP = kT + (long) d * np, qb = vP + (long) np * dp, st = qb + (long) R * d, ob = st + (long) R * BC;
        long total = ob + (long) R * dp;
        Parallel.forEach(s.batch() * s.heads(), bh -> {
            int b = bh / s.heads(), h = bh % s.heads();
            MemorySegment w = scratch.get().get(total);
            long base = b * s.sB() + h * s.sH();
            packKT(s, k, kOff + base, w, kT, np);
            packRows(s, v, vOff + base, w, vP, np, dp);
            float sc = scale[h];
            long lseRow = lseOff + (long) bh * n;
            float[] m = new float[R], l = new float[R];
            for (int i0 = 0; i0 < n; i0 += R) {
                int rows = Math.min(R, n - i0);
                for (int r = 0; r < R; r++) {
                    for (int t = 0; t < d; t++) {
                        float qv = r < rows ? sc * q.getAtIndex(F, qOff + base + (i0 + r) * s.sN() + t) : 0f;
                        w.setAtIndex(F, qb + (long) r * d + t, qv);
                    }
                    m[r] = Float.NEGATIVE_INFINITY;
                    l[r] = 0f;
                }
                w.asSlice(ob * 4, (long) R * dp * 4).fill((byte) 0);
                for (int j0 = 0; j0 < np; j0 += BC) {
                    int bc = Math.min(BC, np - j0);
                    scores(w, qb, kT, np, d, j0, bc, st);
                    for (int r = 0; r < rows; r++) {
                        long srow = st + (long) r * BC;
                        if (mask != null) addMask(w, srow, mask, maskOff + (long) (i0 + r) * n, j0, Math.min(bc, n - j0));
                        for (int j = Math.max(0, n - j0); j < bc; j++) w.setAtIndex(F, srow + j, Float.NEGATIVE_INFINITY);
                        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                        for (int j = 0; j < bc; j += L) vmax = vmax.max(load(w, srow + j));
                        float mNew = Math.max(m[r], vmax.reduceLanes(MAX));
                        if (mNew == Float.NEGATIVE_INFINITY) {
                            for (int j = 0; j < bc; j++) w.setAtIndex(F, srow + j, 0f);
                            continue;
                        }
                        float corr = (float) Math.exp(m[r] - mNew);
                        FloatVector vsum = FloatVector.zero(S);
                        for (int j = 0; j < bc; j += L) {
                            FloatVector p = SimdMath.exp(load(w, srow + j).sub(mNew));
                            store(p, w, srow + j);
                            vsum = vsum.add(p);
                        }
                        l[r] = l[r] * corr + vsum.reduceLanes(ADD);
                        m[r] = mNew;
                        if (corr != 1f) for (int c = 0; c < dp; c += L) store(load(w, ob + (long) r * dp + c).mul(corr), w, ob + (long) r * dp + c);
                    }
                    for (int r = rows; r < R; r++) w.asSlice((st + (long) r * BC) * 4, (long) BC * 4).fill((byte) 0);
                    accumulatePV(w, st, vP, dp, j0, bc, ob);
                }
                for (int r = 0; r < rows; r++) {
                    float inv = l[r] > 0 ? 1f / l[r] : 0f;
                    long orow = oOff + b * s.oB() + (i0 + r) * s.oN() + h * s.oH();
                    for (int t = 0; t < d; t++) o.setAtIndex(F, orow + t, w.getAtIndex(F, ob + (long) r * dp + t) * inv);
                    lse.setAtIndex(F, lseRow + i0 + r, l[r] > 0 ? (float) (m[r] + Math.log(l[r])) : Float.NEGATIVE_INFINITY);
                }
            }
        }, q, k, v, mask, o, lse);
    }

    /** st[R x bc] = qb[R x d] * kT[d x (j0..j0+bc)], two vectors of columns at a time (8 accumulators). */
    private static void scores(MemorySegment w, long qb, long kT, int np, int d, int j0, int bc, long st) {
        int j = 0;
        for (; j + 2 * L <= bc; j += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S), a11 = FloatVector.zero(S);
            FloatVector a20 = FloatVector.zero(S), a21 = FloatVector.zero(S), a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
            long kp = kT + j0 + j;
            for (int t = 0; t < d; t++, kp += np) {
                FloatVector k0 = load(w, kp), k1 = load(w, kp + L);
                FloatVector q0 = FloatVector.broadcast(S, w.getAtIndex(F, qb + t));
                FloatVector q1 = FloatVector.broadcast(S, w.getAtIndex(F, qb + d + t));
                FloatVector q2 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 2L * d + t));
                FloatVector q3 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 3L * d + t));
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
                a1 = FloatVector.broadcast(S, w.getAtIndex(F, qb + d + t)).fma(k0, a1);
                a2 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 2L * d + t)).fma(k0, a2);
                a3 = FloatVector.broadcast(S, w.getAtIndex(F, qb + 3L * d + t)).fma(k0, a3);
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

    private static void addMask(MemorySegment w, long srow, MemorySegment mask, long mrow, int j0, int valid) {
        int j = 0;
        for (; j <= valid - L; j += L) store(load(w, srow + j).add(load(mask, mrow + j0 + j)), w, srow + j);
        for (; j < valid; j++) w.setAtIndex(F, srow + j, w.getAtIndex(F, srow + j) + mask.getAtIndex(F, mrow + j0 + j));
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
        int n = s.tokens(), d = s.headDim();
        int np = roundUp(n, L), dp = roundUp(d, L);
        // kT, vT: d x np | kP: np x dp | dK, dV: np x dp | row buffers: raw, p, dp (np each) | qi, doi, dqi (dp each)
        long kT = 0, vT = kT + (long) d * np, kP = vT + (long) d * np, dKb = kP + (long) np * dp, dVb = dKb + (long) np * dp;
        long raw = dVb + (long) np * dp, pr = raw + np, dpr = pr + np, qi = dpr + np, doi = qi + dp, dqi = doi + dp;
        long total = dqi + dp;
        double[] perHead = new double[s.batch() * s.heads()];
        Parallel.forEach(s.batch() * s.heads(), bh -> {
            int b = bh / s.heads(), h = bh % s.heads();
            MemorySegment w = scratch.get().get(total);
            long base = b * s.sB() + h * s.sH();
            long obase = b * s.oB() + h * s.oH();
            packKT(s, k, kOff + base, w, kT, np);
            packKT(s, v, vOff + base, w, vT, np);
            packRows(s, k, kOff + base, w, kP, np, dp);
            w.asSlice(dKb * 4, 2L * np * dp * 4).fill((byte) 0);
            float sc = scale[h];
            double dsAcc = 0;
            for (int i = 0; i < n; i++) {
                float li = lse.getAtIndex(F, lseOff + (long) bh * n + i);
                if (li == Float.NEGATIVE_INFINITY) continue;
                w.asSlice(qi * 4, 3L * dp * 4).fill((byte) 0);
                MemorySegment.copy(q, (qOff + base + i * s.sN()) * 4, w, qi * 4, (long) d * 4);
                MemorySegment.copy(dO, (dOOff + obase + i * s.oN()) * 4, w, doi * 4, (long) d * 4);
                float di = 0;
                for (int t = 0; t < d; t++) di += w.getAtIndex(F, doi + t) * o.getAtIndex(F, oOff + obase + i * s.oN() + t);
                // raw = q_i K^T and dP = dO_i V^T, vectorised along the keys.
                rowTimesT(w, qi, kT, np, d, raw);
                rowTimesT(w, doi, vT, np, d, dpr);
                FloatVector vdsum = FloatVector.zero(S);
                long mrow = maskOff + (long) i * n;
                for (int j = 0; j < np; j += L) {
                    FloatVector r = load(w, raw + j);
                    FloatVector sj = r.mul(sc);
                    if (mask != null && j + L <= n) sj = sj.add(load(mask, mrow + j));
                    else if (mask != null) {
                        for (int e = 0; e < L; e++) {
                            float sv = (j + e) < n ? sc * w.getAtIndex(F, raw + j + e) + mask.getAtIndex(F, mrow + j + e) : Float.NEGATIVE_INFINITY;
                            w.setAtIndex(F, pr + j + e, sv);
                        }
                        sj = load(w, pr + j);
                    }
                    FloatVector p = SimdMath.exp(sj.sub(li));
                    if (j + L > n) {
                        store(p, w, pr + j);
                        for (int e = Math.max(0, n - j); e < L; e++) w.setAtIndex(F, pr + j + e, 0f);
                        p = load(w, pr + j);
                    }
                    store(p, w, pr + j);
                    FloatVector ds = p.mul(load(w, dpr + j).sub(di));
                    store(ds, w, dpr + j);
                    vdsum = ds.fma(r, vdsum);
                }
                dsAcc += vdsum.reduceLanes(ADD);
                // dq_i = sc * sum_j ds_j K_j ; dK_j += sc * ds_j q_i ; dV_j += p_j dO_i
                for (int c = 0; c < dp; c += L) {
                    FloatVector acc = FloatVector.zero(S);
                    FloatVector qv = load(w, qi + c).mul(sc), dov = load(w, doi + c);
                    for (int j = 0; j < n; j++) {
                        float dsj = w.getAtIndex(F, dpr + j), pj = w.getAtIndex(F, pr + j);
                        long row = (long) j * dp + c;
                        FloatVector vds = FloatVector.broadcast(S, dsj);
                        acc = load(w, kP + row).fma(vds, acc);
                        store(qv.fma(vds, load(w, dKb + row)), w, dKb + row);
                        store(dov.fma(FloatVector.broadcast(S, pj), load(w, dVb + row)), w, dVb + row);
                    }
                    store(acc.mul(sc), w, dqi + c);
                }
                long dqrow = dqOff + base + i * s.sN();
                for (int t = 0; t < d; t++) dq.setAtIndex(F, dqrow + t, dq.getAtIndex(F, dqrow + t) + w.getAtIndex(F, dqi + t));
            }
            for (int j = 0; j < n; j++) {
                long krow = base + j * s.sN();
                for (int t = 0; t < d; t++) {
                    dk.setAtIndex(F, dkOff + krow + t, dk.getAtIndex(F, dkOff + krow + t) + w.getAtIndex(F, dKb + (long) j * dp + t));
                    dv.setAtIndex(F, dvOff + krow + t, dv.getAtIndex(F, dvOff + krow + t) + w.getAtIndex(F, dVb + (long) j * dp + t));
                }
            }
            perHead[bh] = dsAcc;
        }, q, k, v, mask, o, dO, lse, dq, dk, dv);
        if (dScale != null) for (int bh = 0; bh < perHead.length; bh++) dScale[bh % s.heads()] += perHead[bh];
    }

    /** out[np] = x[d] * mT[d x np], vectorised along np. */
    private static void rowTimesT(MemorySegment w, long x, long mT, int np, int d, long out) {
        int j = 0;
        for (; j + 4 * L <= np; j += 4 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S), a3 = FloatVector.zero(S);
            long kp = mT + j;
            for (int t = 0; t < d; t++, kp += np) {
                FloatVector xv = FloatVector.broadcast(S, w.getAtIndex(F, x + t));
                a0 = xv.fma(load(w, kp), a0);
                a1 = xv.fma(load(w, kp + L), a1);
                a2 = xv.fma(load(w, kp + 2 * L), a2);
                a3 = xv.fma(load(w, kp + 3 * L), a3);
            }
            store(a0, w, out + j); store(a1, w, out + j + L); store(a2, w, out + j + 2 * L); store(a3, w, out + j + 3 * L);
        }
        for (; j < np; j += L) {
            FloatVector a0 = FloatVector.zero(S);
            long kp = mT + j;
            for (int t = 0; t < d; t++, kp += np) a0 = FloatVector.broadcast(S, w.getAtIndex(F, x + t)).fma(load(w, kp), a0);
            store(a0, w, out + j);
        }
    }
}
