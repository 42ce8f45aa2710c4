package dev.tessera.engine.kernels.simd;

import static dev.tessera.engine.kernels.simd.SimdSpecies.FOLD1;
import static dev.tessera.engine.kernels.simd.SimdSpecies.FOLD2;
import static dev.tessera.engine.kernels.simd.SimdSpecies.FOLD4;
import static dev.tessera.engine.kernels.simd.SimdSpecies.FOLD8;

import static jdk.incubator.vector.VectorOperators.GT;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.AttentionDropout;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.CpuInfo;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.MathRef;
import dev.tessera.engine.kernels.ScalarKernels;
import dev.tessera.engine.kernels.gemm.Blocking;
import dev.tessera.engine.kernels.gemm.GemmDriver;
import dev.tessera.engine.kernels.gemm.MicroKernel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API kernels. Loaded reflectively by the provider only when jdk.incubator.vector is readable, so nothing on
 * the fallback path links against it. Kernels not overridden here are the scalar reference ones.
 */
public final class SimdKernels extends ScalarKernels {
    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;
    private static final int L = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    private final GemmDriver gemm;
    private final MicroKernel micro;
    private final FusedAttention attention;

    public SimdKernels() {
        // 32 vector registers (AVX-512) hold a 12 x 2V tile; 16 (AVX2, NEON 128 is refused earlier) hold 6 x 2V.
        micro = S.vectorBitSize() >= 512 ? new MicroKernel12x2v() : new MicroKernel6x2v();
        gemm = new GemmDriver(micro, micro.mr() > 6 ? new MicroKernel6x2v() : null, Blocking.of(micro.mr(), micro.nr(), CpuInfo.get()));
        attention = new FusedAttention(micro);
    }

    public static int vectorBits() { return S.vectorBitSize(); }

    @Override
    public String name() { return "simd-" + S.vectorBitSize(); }

    public String microKernel() {
        Blocking b = gemm.blocking();
        return micro.mr() + "x" + micro.nr() + " (kc=" + b.kc() + ", nc=" + b.nc() + ", A " + (micro.prefersRowsOfA() ? "as rows" : "packed") + ")"
                + (attention.onMicroKernel() ? ", attention's products on it too" : "");
    }

    /**
     * Elementwise work below this many floats stays on the calling thread: a fork costs more than it saves. Between
     * the ops of a step the pool's worker is still spinning, and a fork costs about a microsecond: a layer norm of
     * 63.7K floats took 11.0 us split against 16.4 on one thread, 16.9K floats 3.4 against 4.4, 8.4K 2.2 against 2.4
     * (Zen 3, two threads). At 65536, the bound until 2026-12-02, a D = 128 model's chunks of 500 tokens (64000 floats)
     * kept every layer norm, residual add and bias gradient on one thread, and the worker idle for 24% of a training
     * step. {@code -Dtessera.parallelMin=N} for experiments.
     */
    private static final long PARALLEL_MIN = Long.getLong("tessera.parallelMin", 1 << 14);

    @FunctionalInterface
    private interface Range {
        void run(long from, long to);
    }

    /** Splits [0, n) into one vector-aligned chunk per thread when n is large and the memory can be shared. */
    private static void chunks(long n, Range body, MemorySegment... touched) {
        int t = dev.tessera.engine.kernels.Parallel.threads();
        if (n < PARALLEL_MIN || t == 1) {
            body.run(0, n);
            return;
        }
        alignedParts(n, t, body, touched);
    }

    /** Runs body over [0, n) in {@code parts} vector-aligned ranges on the pool, the last one taking the rest. */
    private static void alignedParts(long n, int parts, Range body, MemorySegment... touched) {
        long per = (n / parts + L - 1) / L * L;
        dev.tessera.engine.kernels.Parallel.forEach(parts, i -> {
            long from = Math.min(n, i * per), to = i == parts - 1 ? n : Math.min(n, from + per);
            if (from < to) body.run(from, to);
        }, touched);
    }

    /** Splits rows [0, rows) across threads when rows * cols is large. */
    private static void rowChunks(int rows, int cols, Range body, MemorySegment... touched) {
        int t = dev.tessera.engine.kernels.Parallel.threads();
        if ((long) rows * cols < PARALLEL_MIN || t == 1 || rows < 2) {
            body.run(0, rows);
            return;
        }
        int parts = Math.min(t, rows);
        dev.tessera.engine.kernels.Parallel.forEach(parts, i -> {
            long from = (long) rows * i / parts, to = (long) rows * (i + 1) / parts;
            if (from < to) body.run(from, to);
        }, touched);
    }

    /**
     * Splits columns [0, cols) of a rows x cols reduction over rows into one vector-aligned range per thread, when the
     * matrix is large: each thread then owns its outputs and no partial sums need combining.
     */
    private static void colChunks(int rows, int cols, Range body, MemorySegment... touched) {
        int t = dev.tessera.engine.kernels.Parallel.threads();
        int parts = Math.min(t, cols / L);
        if ((long) rows * cols < PARALLEL_MIN || parts <= 1) {
            body.run(0, cols);
            return;
        }
        alignedParts(cols, parts, body, touched);
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     MemorySegment a, long aOff, long lda, MemorySegment b, long bOff, long ldb,
                     float beta, MemorySegment c, long cOff, long ldc, Epilogue ep) {
        gemm.gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, ep);
    }

    @Override
    public dev.tessera.engine.kernels.PackedMatrix packB(boolean transB, int k, int n, MemorySegment b, long bOff, long ldb, MemorySegment dst, long dstOff) {
        return gemm.pack(transB, k, n, b, bOff, ldb, dst, dstOff, name());
    }

    @Override
    public long packedFloats(int k, int n) {
        return dev.tessera.engine.kernels.PackedMatrix.floats(k, n, gemm.nr());
    }

    @Override
    public void gemmPacked(int m, int n, int k, MemorySegment a, long aOff, long lda, dev.tessera.engine.kernels.PackedMatrix b,
                           MemorySegment c, long cOff, long ldc, Epilogue ep) {
        if (!name().equals(b.packedBy()) || b.k() != k || b.n() != n) {
            throw new IllegalArgumentException("packed matrix " + b.k() + "x" + b.n() + " by " + b.packedBy() + " used as " + k + "x" + n + " by " + name());
        }
        gemm.gemmPacked(m, n, k, a, aOff, lda, b, c, cOff, ldc, ep);
    }

    @Override
    public void gemmBatched(int batch, boolean transA, boolean transB, int m, int n, int k, float alpha,
                            MemorySegment a, long aOff, long lda, long sA, MemorySegment b, long bOff, long ldb, long sB,
                            float beta, MemorySegment c, long cOff, long ldc, long sC) {
        // Heads are independent: parallelise across them, each GEMM sequential (nested calls run inline).
        dev.tessera.engine.kernels.Parallel.forEach(batch, i ->
                gemm.gemm(transA, transB, m, n, k, alpha, a, aOff + i * sA, lda, b, bOff + i * sB, ldb, beta, c, cOff + i * sC, ldc, Epilogue.NONE), a, b, c);
    }

    // ---------------------------------------------------------------- softmax, layernorm

    @Override
    public void softmax(MemorySegment x, long xOff, MemorySegment y, long yOff, int rows, int cols) {
        rowChunks(rows, cols, (f, t) -> softmaxSerial(x, xOff + f * cols, y, yOff + f * cols, (int) (t - f), cols), x, y);
    }

    /** The next row's max is taken during this row's exponentials (see SimdMath.expShift), the first row's on its own. */
    private void softmaxSerial(MemorySegment x, long xOff, MemorySegment y, long yOff, int rows, int cols) {
        float[] lanes = new float[L], nextMax = new float[1];
        float max = rows > 0 ? max(x, xOff, cols, lanes) : 0f;
        for (int r = 0; r < rows; r++) {
            long xr = xOff + (long) r * cols, yr = yOff + (long) r * cols;
            // The last row takes its own max again (from L1) and drops it: one loop shape for every row.
            long xn = r + 1 < rows ? xr + cols : xr;
            if (max == Float.NEGATIVE_INFINITY || Float.isNaN(max)) {
                // All masked: zeros. A NaN: NaN everywhere, as through the sum whenever a finite max exists.
                float fill = 0f;
                for (int j = 0; j < cols; j++) if (Float.isNaN(x.getAtIndex(F, xr + j))) fill = Float.NaN;
                for (int j = 0; j < cols; j++) y.setAtIndex(F, yr + j, fill);
                max = max(x, xn, cols, lanes);
                continue;
            }
            float inv = 1f / SimdMath.expShift(x, xr, y, yr, cols, max, true, xn, nextMax);
            int j = 0;
            for (; j <= cols - L; j += L) FloatVector.fromMemorySegment(S, y, (yr + j) * 4, NO).mul(inv).intoMemorySegment(y, (yr + j) * 4, NO);
            if (j < cols) {
                VectorMask<Float> m = S.indexInRange(j, cols);
                FloatVector.fromMemorySegment(S, y, (yr + j) * 4, NO, m).mul(inv).intoMemorySegment(y, (yr + j) * 4, NO, m);
            }
            max = nextMax[0];
        }
    }

    @Override
    public void softmaxBackward(MemorySegment y, long yOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, int rows, int cols) {
        rowChunks(rows, cols, (f, t) -> softmaxBackwardSerial(y, yOff + f * cols, dy, dyOff + f * cols, dx, dxOff + f * cols, (int) (t - f), cols), y, dy, dx);
    }

    private void softmaxBackwardSerial(MemorySegment y, long yOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            float dot = dot(y, yOff + o, dy, dyOff + o, cols);
            int j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector yv = FloatVector.fromMemorySegment(S, y, (yOff + o + j) * 4, NO);
                yv.mul(FloatVector.fromMemorySegment(S, dy, (dyOff + o + j) * 4, NO).sub(dot)).add(FloatVector.fromMemorySegment(S, dx, (dxOff + o + j) * 4, NO)).intoMemorySegment(dx, (dxOff + o + j) * 4, NO);
            }
            for (; j < cols; j++) {
                float yv = y.getAtIndex(F, yOff + o + j);
                dx.setAtIndex(F, dxOff + o + j, dx.getAtIndex(F, dxOff + o + j) + yv * (dy.getAtIndex(F, dyOff + o + j) - dot));
            }
        }
    }

    /**
     * The largest of n floats; NaNs in whole vectors are passed over (the softmax spreads them through its sum). Four
     * chains of compare and blend, merged the same way: Java's max() carries its NaN and -0.0 rules (five instructions
     * on the loop-carried chain) and reduceLanes(MAX) more of the same; with them the max pass took more time than the
     * exponentials in a softmax row of 768.
     */
    static float max(MemorySegment x, long off, int n, float[] lanes) {
        FloatVector m0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY), m1 = m0, m2 = m0, m3 = m0;
        int j = 0;
        for (; j <= n - 4 * L; j += 4 * L) {
            long o = (off + j) * 4;
            FloatVector x0 = FloatVector.fromMemorySegment(S, x, o, NO), x1 = FloatVector.fromMemorySegment(S, x, o + 4L * L, NO);
            FloatVector x2 = FloatVector.fromMemorySegment(S, x, o + 8L * L, NO), x3 = FloatVector.fromMemorySegment(S, x, o + 12L * L, NO);
            // The new value is the receiver, never the loop-carried max (see package-info).
            m0 = x0.blend(m0, x0.compare(GT, m0).not());
            m1 = x1.blend(m1, x1.compare(GT, m1).not());
            m2 = x2.blend(m2, x2.compare(GT, m2).not());
            m3 = x3.blend(m3, x3.compare(GT, m3).not());
        }
        for (; j <= n - L; j += L) {
            FloatVector x0 = FloatVector.fromMemorySegment(S, x, (off + j) * 4, NO);
            m0 = x0.blend(m0, x0.compare(GT, m0).not());
        }
        m0 = m0.blend(m1, m1.compare(GT, m0));
        m2 = m2.blend(m3, m3.compare(GT, m2));
        m0.blend(m2, m2.compare(GT, m0)).intoArray(lanes, 0);
        float m = Float.NEGATIVE_INFINITY;
        for (float v : lanes) m = Math.max(m, v);
        for (; j < n; j++) m = Math.max(m, x.getAtIndex(F, off + j));
        return m;
    }

    /** The sum is folded in registers (SimdSpecies.FOLD8), in SimdMath.sum's order. */
    static float dot(MemorySegment a, long ao, MemorySegment b, long bo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) acc = FloatVector.fromMemorySegment(S, a, (ao + j) * 4, NO).fma(FloatVector.fromMemorySegment(S, b, (bo + j) * 4, NO), acc);
        if (L >= 16) acc = acc.rearrange(FOLD8).add(acc);
        if (L >= 8) acc = acc.rearrange(FOLD4).add(acc);
        acc = acc.rearrange(FOLD2).add(acc);
        acc = acc.rearrange(FOLD1).add(acc);
        float s = acc.lane(0);
        for (; j < n; j++) s += a.getAtIndex(F, ao + j) * b.getAtIndex(F, bo + j);
        return s;
    }

    static float sum(MemorySegment a, long ao, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) acc = FloatVector.fromMemorySegment(S, a, (ao + j) * 4, NO).add(acc);
        if (L >= 16) acc = acc.rearrange(FOLD8).add(acc);
        if (L >= 8) acc = acc.rearrange(FOLD4).add(acc);
        acc = acc.rearrange(FOLD2).add(acc);
        acc = acc.rearrange(FOLD1).add(acc);
        float s = acc.lane(0);
        for (; j < n; j++) s += a.getAtIndex(F, ao + j);
        return s;
    }

    @Override
    public void layerNorm(MemorySegment x, long xOff, MemorySegment gamma, long gOff, MemorySegment beta, long bOff,
                          MemorySegment y, long yOff, MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                          int rows, int cols, float eps) {
        rowChunks(rows, cols, (f, t) -> layerNormSerial(x, xOff + f * cols, gamma, gOff, beta, bOff, y, yOff + f * cols,
                mean, meanOff + f, rstd, rstdOff + f, (int) (t - f), cols, eps), x, gamma, beta, y, mean, rstd);
    }

    /**
     * One pass for the output. A row's statistics must be complete before its output can start, so the next row's are
     * gathered during this row's output pass: its loads from memory overlap the arithmetic instead of waiting behind
     * it, and no separate pass (with its reduction latency) stands between rows. They are one-pass sums shifted by an
     * estimate of the row's mean ({@link #statsShift}); where the estimate was poor (cancellation could cost digits),
     * the row falls back to the two-pass mean and centred squares. Every row's statistics come from the same
     * operations in the same order, first in its chunk or not, so a row's result does not depend on where a chunk starts.
     */
    private void layerNormSerial(MemorySegment x, long xOff, MemorySegment gamma, long gOff, MemorySegment beta, long bOff,
                          MemorySegment y, long yOff, MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                          int rows, int cols, float eps) {
        float[] lanes = new float[L], stats = new float[2];
        if (rows > 0) rowStats(x, xOff, cols, lanes, stats);
        for (int r = 0; r < rows; r++) {
            long xr = xOff + (long) r * cols, yr = yOff + (long) r * cols;
            float mu = stats[0], rs = (float) (1 / Math.sqrt(stats[1] + eps));
            // The last row gathers its own statistics again (from L1) and drops them: one loop shape for every row.
            long xn = r + 1 < rows ? xr + cols : xr;
            float c = statsShift(x, xn, cols);
            FloatVector s1 = FloatVector.zero(S), s2 = s1;
            int j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, x, (xr + j) * 4, NO).sub(mu).mul(rs);
                if (gamma != null) v = v.mul(FloatVector.fromMemorySegment(S, gamma, (gOff + j) * 4, NO));
                if (beta != null) v = v.add(FloatVector.fromMemorySegment(S, beta, (bOff + j) * 4, NO));
                v.intoMemorySegment(y, (yr + j) * 4, NO);
                FloatVector d = FloatVector.fromMemorySegment(S, x, (xn + j) * 4, NO).sub(c);
                s1 = d.add(s1);
                s2 = d.fma(d, s2);
            }
            for (int k = j; k < cols; k++) {
                float v = (x.getAtIndex(F, xr + k) - mu) * rs;
                if (gamma != null) v *= gamma.getAtIndex(F, gOff + k);
                if (beta != null) v += beta.getAtIndex(F, bOff + k);
                y.setAtIndex(F, yr + k, v);
            }
            mean.setAtIndex(F, meanOff + r, mu);
            rstd.setAtIndex(F, rstdOff + r, rs);
            // Both sums folded in registers, in SimdMath.sum's order (see SimdSpecies.FOLD8).
            if (L >= 16) { s1 = s1.rearrange(FOLD8).add(s1); s2 = s2.rearrange(FOLD8).add(s2); }
            if (L >= 8) { s1 = s1.rearrange(FOLD4).add(s1); s2 = s2.rearrange(FOLD4).add(s2); }
            s1 = s1.rearrange(FOLD2).add(s1);
            s2 = s2.rearrange(FOLD2).add(s2);
            s1 = s1.rearrange(FOLD1).add(s1);
            s2 = s2.rearrange(FOLD1).add(s2);
            finishStats(x, xn, cols, j, c, s1.lane(0), s2.lane(0), lanes, stats);
        }
    }

    /** A row's mean and variance into stats, on their own: the first row of a chunk. The same steps as the fused pass. */
    private static void rowStats(MemorySegment x, long off, int n, float[] lanes, float[] stats) {
        float c = statsShift(x, off, n);
        FloatVector s1 = FloatVector.zero(S), s2 = s1;
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector d = FloatVector.fromMemorySegment(S, x, (off + j) * 4, NO).sub(c);
            s1 = d.add(s1);
            s2 = d.fma(d, s2);
        }
        if (L >= 16) { s1 = s1.rearrange(FOLD8).add(s1); s2 = s2.rearrange(FOLD8).add(s2); }
        if (L >= 8) { s1 = s1.rearrange(FOLD4).add(s1); s2 = s2.rearrange(FOLD4).add(s2); }
        s1 = s1.rearrange(FOLD2).add(s1);
        s2 = s2.rearrange(FOLD2).add(s2);
        s1 = s1.rearrange(FOLD1).add(s1);
        s2 = s2.rearrange(FOLD1).add(s2);
        finishStats(x, off, n, j, c, s1.lane(0), s2.lane(0), lanes, stats);
    }

    /** The shift for a row's one-pass sums: the mean of its first vector (of all of it when shorter). */
    private static float statsShift(MemorySegment x, long off, int n) {
        if (n >= L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, off * 4, NO);
            if (L >= 16) v = v.rearrange(FOLD8).add(v);
            if (L >= 8) v = v.rearrange(FOLD4).add(v);
            v = v.rearrange(FOLD2).add(v);
            v = v.rearrange(FOLD1).add(v);
            return v.lane(0) / L;
        }
        float s = 0f;
        for (int j = 0; j < n; j++) s += x.getAtIndex(F, off + j);
        return s / n;
    }

    /**
     * Mean and variance into stats from the sums of d = x - c and d^2 over a row's first j floats (its whole vectors),
     * plus the tail. With m = mean(d), var = mean(d^2) - m^2 loses about log2(1 + m^2 / var) bits, and m^2 / var stays
     * below n / L as c comes from the row itself; still, past m^2 = 4 var (c more than two standard deviations off) and
     * where var is not positive (a constant row, rounding, infinities, NaNs) the row takes the exact two passes.
     */
    private static void finishStats(MemorySegment x, long off, int n, int j, float c, float sum1, float sum2, float[] lanes, float[] stats) {
        for (; j < n; j++) {
            float d = x.getAtIndex(F, off + j) - c;
            sum1 += d;
            sum2 += d * d;
        }
        float m = sum1 / n, var = sum2 / n - m * m;
        if (var > 0 && m * m <= 4 * var) {
            stats[0] = c + m;
            stats[1] = var;
        } else {
            float mu = sum(x, off, n) / n;
            stats[0] = mu;
            stats[1] = centredSquares(x, off, n, mu, lanes) / n;
        }
    }

    /** Sum of (x - mu)^2 over n floats, in four chains: one chain waited on the FMA latency, 4 cycles a vector. */
    private static float centredSquares(MemorySegment x, long off, int n, float mu, float[] lanes) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int j = 0;
        for (; j <= n - 4 * L; j += 4 * L) {
            long o = (off + j) * 4;
            FloatVector d0 = FloatVector.fromMemorySegment(S, x, o, NO).sub(mu), d1 = FloatVector.fromMemorySegment(S, x, o + 4L * L, NO).sub(mu);
            FloatVector d2 = FloatVector.fromMemorySegment(S, x, o + 8L * L, NO).sub(mu), d3 = FloatVector.fromMemorySegment(S, x, o + 12L * L, NO).sub(mu);
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
            a2 = d2.fma(d2, a2);
            a3 = d3.fma(d3, a3);
        }
        for (; j <= n - L; j += L) {
            FloatVector d = FloatVector.fromMemorySegment(S, x, (off + j) * 4, NO).sub(mu);
            a0 = d.fma(d, a0);
        }
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        float s = SimdMath.sum(lanes);
        for (; j < n; j++) {
            float d = x.getAtIndex(F, off + j) - mu;
            s += d * d;
        }
        return s;
    }

    @Override
    public void layerNormBackward(MemorySegment x, long xOff, MemorySegment gamma, long gOff,
                                  MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                                  MemorySegment dy, long dyOff, MemorySegment dx, long dxOff,
                                  MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff, int rows, int cols) {
        // dx rows are independent and run in parallel; dgamma/dbeta sum over rows, so they get one pass of their own.
        rowChunks(rows, cols, (f, t) -> layerNormBackwardSerial(x, xOff + f * cols, gamma, gOff, mean, meanOff + f, rstd, rstdOff + f,
                dy, dyOff + f * cols, dx, dxOff + f * cols, null, 0, null, 0, (int) (t - f), cols), x, gamma, mean, rstd, dy, dx);
        if (dgamma != null || dbeta != null) {
            // Column ranges in parallel: each thread sums its own columns of dgamma/dbeta over all rows (serial, this
            // pass left a thread idle for a quarter of the layer norm's backward).
            colChunks(rows, cols, (c0, c1) -> layerNormParamGrads(x, xOff, mean, meanOff, rstd, rstdOff, dy, dyOff,
                    dgamma, dgOff, dbeta, dbOff, rows, cols, (int) c0, (int) c1), x, mean, rstd, dy, dgamma, dbeta);
        }
    }

    /** dgamma[j] += sum_r dy[r, j] xhat[r, j] and dbeta[j] += sum_r dy[r, j] for columns [c0, c1). */
    private void layerNormParamGrads(MemorySegment x, long xOff, MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                                     MemorySegment dy, long dyOff, MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff,
                                     int rows, int cols, int c0, int c1) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            float mu = mean.getAtIndex(F, meanOff + r), rs = rstd.getAtIndex(F, rstdOff + r);
            int j = c0;
            for (; j <= c1 - L; j += L) {
                FloatVector d = FloatVector.fromMemorySegment(S, dy, (dyOff + o + j) * 4, NO);
                if (dgamma != null) d.fma(FloatVector.fromMemorySegment(S, x, (xOff + o + j) * 4, NO).sub(mu).mul(rs), FloatVector.fromMemorySegment(S, dgamma, (dgOff + j) * 4, NO)).intoMemorySegment(dgamma, (dgOff + j) * 4, NO);
                if (dbeta != null) d.add(FloatVector.fromMemorySegment(S, dbeta, (dbOff + j) * 4, NO)).intoMemorySegment(dbeta, (dbOff + j) * 4, NO);
            }
            for (; j < c1; j++) {
                float d = dy.getAtIndex(F, dyOff + o + j);
                if (dgamma != null) dgamma.setAtIndex(F, dgOff + j, dgamma.getAtIndex(F, dgOff + j) + d * (x.getAtIndex(F, xOff + o + j) - mu) * rs);
                if (dbeta != null) dbeta.setAtIndex(F, dbOff + j, dbeta.getAtIndex(F, dbOff + j) + d);
            }
        }
    }

    private void layerNormBackwardSerial(MemorySegment x, long xOff, MemorySegment gamma, long gOff,
                                  MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                                  MemorySegment dy, long dyOff, MemorySegment dx, long dxOff,
                                  MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff, int rows, int cols) {
        // Two passes per row, each a method of its own: as one 904-byte method C1 ran out of virtual registers
        // (see gen_microkernels.py for what that can cost).
        float[] sums = new float[2];
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            float mu = mean.getAtIndex(F, meanOff + r), rs = rstd.getAtIndex(F, rstdOff + r);
            layerNormGradSums(x, xOff + o, gamma, gOff, mu, rs, dy, dyOff + o, dgamma, dgOff, dbeta, dbOff, cols, sums);
            layerNormGradApply(x, xOff + o, gamma, gOff, mu, rs, dy, dyOff + o, dx, dxOff + o, cols, sums[0] / cols, sums[1] / cols);
        }
    }

    /** sums = [sum g, sum g xhat] with g = dy * gamma over one row; dgamma += dy xhat, dbeta += dy. */
    private static void layerNormGradSums(MemorySegment x, long xr, MemorySegment gamma, long gOff, float mu, float rs,
                                          MemorySegment dy, long dyr, MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff,
                                          int cols, float[] sums) {
        FloatVector vg = FloatVector.zero(S), vgx = FloatVector.zero(S);
        int j = 0;
        for (; j <= cols - L; j += L) {
            FloatVector xhat = FloatVector.fromMemorySegment(S, x, (xr + j) * 4, NO).sub(mu).mul(rs);
            FloatVector d = FloatVector.fromMemorySegment(S, dy, (dyr + j) * 4, NO);
            FloatVector g = gamma == null ? d : d.mul(FloatVector.fromMemorySegment(S, gamma, (gOff + j) * 4, NO));
            vg = g.add(vg);
            vgx = g.fma(xhat, vgx);
            if (dgamma != null) d.fma(xhat, FloatVector.fromMemorySegment(S, dgamma, (dgOff + j) * 4, NO)).intoMemorySegment(dgamma, (dgOff + j) * 4, NO);
            if (dbeta != null) d.add(FloatVector.fromMemorySegment(S, dbeta, (dbOff + j) * 4, NO)).intoMemorySegment(dbeta, (dbOff + j) * 4, NO);
        }
        if (L >= 16) vg = vg.rearrange(FOLD8).add(vg);
        if (L >= 8) vg = vg.rearrange(FOLD4).add(vg);
        vg = vg.rearrange(FOLD2).add(vg);
        vg = vg.rearrange(FOLD1).add(vg);
        if (L >= 16) vgx = vgx.rearrange(FOLD8).add(vgx);
        if (L >= 8) vgx = vgx.rearrange(FOLD4).add(vgx);
        vgx = vgx.rearrange(FOLD2).add(vgx);
        vgx = vgx.rearrange(FOLD1).add(vgx);
        float sg = vg.lane(0), sgx = vgx.lane(0);
        for (; j < cols; j++) {
            float xhat = (x.getAtIndex(F, xr + j) - mu) * rs;
            float d = dy.getAtIndex(F, dyr + j);
            float g = gamma == null ? d : d * gamma.getAtIndex(F, gOff + j);
            sg += g;
            sgx += g * xhat;
            if (dgamma != null) dgamma.setAtIndex(F, dgOff + j, dgamma.getAtIndex(F, dgOff + j) + d * xhat);
            if (dbeta != null) dbeta.setAtIndex(F, dbOff + j, dbeta.getAtIndex(F, dbOff + j) + d);
        }
        sums[0] = sg;
        sums[1] = sgx;
    }

    /** dx += rs (g - mean g - xhat mean(g xhat)) over one row. */
    private static void layerNormGradApply(MemorySegment x, long xr, MemorySegment gamma, long gOff, float mu, float rs,
                                           MemorySegment dy, long dyr, MemorySegment dx, long dxr, int cols, float mg, float mgx) {
        int j = 0;
        for (; j <= cols - L; j += L) {
            FloatVector xhat = FloatVector.fromMemorySegment(S, x, (xr + j) * 4, NO).sub(mu).mul(rs);
            FloatVector d = FloatVector.fromMemorySegment(S, dy, (dyr + j) * 4, NO);
            FloatVector g = gamma == null ? d : d.mul(FloatVector.fromMemorySegment(S, gamma, (gOff + j) * 4, NO));
            FloatVector v = g.sub(mg).sub(xhat.mul(mgx)).mul(rs);
            v.add(FloatVector.fromMemorySegment(S, dx, (dxr + j) * 4, NO)).intoMemorySegment(dx, (dxr + j) * 4, NO);
        }
        for (; j < cols; j++) {
            float xhat = (x.getAtIndex(F, xr + j) - mu) * rs;
            float d = dy.getAtIndex(F, dyr + j);
            float g = gamma == null ? d : d * gamma.getAtIndex(F, gOff + j);
            dx.setAtIndex(F, dxr + j, dx.getAtIndex(F, dxr + j) + rs * (g - mg - xhat * mgx));
        }
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void activation(Activation act, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        switch (act) {
            case NONE -> SimdMath.activation(act, x, xOff, y, yOff, n);
            case GELU -> chunks(n, (f, t) -> SimdMath.gelu(x, xOff + f, y, yOff + f, t - f), x, y);
            case GELU_TANH -> chunks(n, (f, t) -> SimdMath.geluTanh(x, xOff + f, y, yOff + f, t - f), x, y);
            case TANH -> chunks(n, (f, t) -> SimdMath.tanh(x, xOff + f, y, yOff + f, t - f), x, y);
            case RELU -> chunks(n, (f, t) -> SimdMath.relu(x, xOff + f, y, yOff + f, t - f), x, y);
        }
    }

    @Override
    public void activationBackward(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n) {
        chunks(n, (f, t) -> SimdMath.activationBackward(act, x, xOff + f, dy, dyOff + f, dx, dxOff + f, t - f, true), x, dy, dx);
    }

    @Override
    public void activationGrad(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n) {
        chunks(n, (f, t) -> SimdMath.activationBackward(act, x, xOff + f, dy, dyOff + f, dx, dxOff + f, t - f, false), x, dy, dx);
    }

    @Override
    public void add(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        chunks(n, (f, t) -> addSerial(a, aOff + f, b, bOff + f, out, outOff + f, t - f), a, b, out);
    }

    /** out = a + b over n floats on the calling thread (out may be a or b); whole-head attention's mask rows too. */
    static void addSerial(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, a, (aOff + i) * 4, NO).add(FloatVector.fromMemorySegment(S, b, (bOff + i) * 4, NO)).intoMemorySegment(out, (outOff + i) * 4, NO);
        for (; i < n; i++) out.setAtIndex(F, outOff + i, a.getAtIndex(F, aOff + i) + b.getAtIndex(F, bOff + i));
    }

    @Override
    public void mul(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        chunks(n, (f, t) -> mulSerial(a, aOff + f, b, bOff + f, out, outOff + f, t - f), a, b, out);
    }

    private void mulSerial(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, a, (aOff + i) * 4, NO).mul(FloatVector.fromMemorySegment(S, b, (bOff + i) * 4, NO)).intoMemorySegment(out, (outOff + i) * 4, NO);
        for (; i < n; i++) out.setAtIndex(F, outOff + i, a.getAtIndex(F, aOff + i) * b.getAtIndex(F, bOff + i));
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        chunks(n, (f, t) -> axpySerial(alpha, x, xOff + f, y, yOff + f, t - f), x, y);
    }

    private void axpySerial(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        long i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).fma(va, FloatVector.fromMemorySegment(S, y, (yOff + i) * 4, NO)).intoMemorySegment(y, (yOff + i) * 4, NO);
        for (; i < n; i++) y.setAtIndex(F, yOff + i, y.getAtIndex(F, yOff + i) + alpha * x.getAtIndex(F, xOff + i));
    }

    @Override
    public void scale(float alpha, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        chunks(n, (f, t) -> scaleSerial(alpha, x, xOff + f, out, outOff + f, t - f), x, out);
    }

    private void scaleSerial(float alpha, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).mul(alpha).intoMemorySegment(out, (outOff + i) * 4, NO);
        for (; i < n; i++) out.setAtIndex(F, outOff + i, alpha * x.getAtIndex(F, xOff + i));
    }

    @Override
    public void mulAcc(MemorySegment dy, long dyOff, MemorySegment b, long bOff, MemorySegment dx, long dxOff, long n) {
        chunks(n, (f, t) -> mulAccSerial(dy, dyOff + f, b, bOff + f, dx, dxOff + f, t - f), dy, b, dx);
    }

    private void mulAccSerial(MemorySegment dy, long dyOff, MemorySegment b, long bOff, MemorySegment dx, long dxOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, dy, (dyOff + i) * 4, NO).fma(FloatVector.fromMemorySegment(S, b, (bOff + i) * 4, NO), FloatVector.fromMemorySegment(S, dx, (dxOff + i) * 4, NO)).intoMemorySegment(dx, (dxOff + i) * 4, NO);
        for (; i < n; i++) dx.setAtIndex(F, dxOff + i, dx.getAtIndex(F, dxOff + i) + dy.getAtIndex(F, dyOff + i) * b.getAtIndex(F, bOff + i));
    }

    @Override
    public void addRow(MemorySegment x, long xOff, MemorySegment row, long rowOff, MemorySegment out, long outOff, int rows, int cols) {
        rowChunks(rows, cols, (f, t) -> {
            for (long r = f; r < t; r++) addSerial(x, xOff + r * cols, row, rowOff, out, outOff + r * cols, cols);
        }, x, row, out);
    }

    @Override
    public void sumRows(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int cols) {
        // Each thread its own columns over all rows: a bias gradient, serial before, left the other core idle.
        colChunks(rows, cols, (c0, c1) -> {
            for (int r = 0; r < rows; r++) axpySerial(1f, x, xOff + (long) r * cols + c0, out, outOff + c0, c1 - c0);
        }, x, out);
    }

    @Override
    public void sumCols(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) out.setAtIndex(F, outOff + r, sum(x, xOff + (long) r * cols, cols));
    }

    @Override
    public void copy(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        chunks(n, (f, t) -> copySerial(x, xOff + f, y, yOff + f, t - f), x, y);
    }

    private void copySerial(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO).intoMemorySegment(y, (yOff + i) * 4, NO);
        for (; i < n; i++) y.setAtIndex(F, yOff + i, x.getAtIndex(F, xOff + i));
    }

    @Override
    public double sumSquares(MemorySegment x, long xOff, long n) {
        float[] lanes = new float[L];
        // Float lanes over blocks of 4096, folded into a double: accurate and still one FMA per element.
        double total = 0;
        for (long b = 0; b < n; b += 4096) {
            long e = Math.min(n, b + 4096);
            FloatVector acc = FloatVector.zero(S);
            long i = b;
            for (; i <= e - L; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, x, (xOff + i) * 4, NO);
                acc = v.fma(v, acc);
            }
            acc.intoArray(lanes, 0);
            double s = SimdMath.sum(lanes);
            for (; i < e; i++) {
                double v = x.getAtIndex(F, xOff + i);
                s += v * v;
            }
            total += s;
        }
        return total;
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void attention(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                          float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                          MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        attention.forward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, dropout, o, oOff, lse, lseOff);
    }

    @Override
    public void attentionBackward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                  float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                                  MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                                  MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                                  MemorySegment dv, long dvOff, double[] dScale, boolean add) {
        attention.backward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, dropout, o, oOff, dO, dOOff, lse, lseOff, dq, dqOff, dk, dkOff, dv, dvOff, dScale, add);
    }

    // ---------------------------------------------------------------- optimizers

    @Override
    public void adamw(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment m, long mOff, MemorySegment v, long vOff,
                      long n, float lr, float beta1, float beta2, float eps, float weightDecay, float c1, float c2) {
        chunks(n, (f, t) -> adamwSerial(p, pOff + f, g, gOff + f, m, mOff + f, v, vOff + f, t - f, lr, beta1, beta2, eps, weightDecay, c1, c2), p, g, m, v);
    }

    private void adamwSerial(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment m, long mOff, MemorySegment v, long vOff,
                      long n, float lr, float beta1, float beta2, float eps, float weightDecay, float c1, float c2) {
        float decay = 1 - lr * weightDecay, stepScale = lr / c1, invC2 = 1 / c2;
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector gi = FloatVector.fromMemorySegment(S, g, (gOff + i) * 4, NO);
            FloatVector mi = FloatVector.fromMemorySegment(S, m, (mOff + i) * 4, NO).mul(beta1).add(gi.mul(1 - beta1));
            FloatVector vi = FloatVector.fromMemorySegment(S, v, (vOff + i) * 4, NO).mul(beta2).add(gi.mul(gi).mul(1 - beta2));
            mi.intoMemorySegment(m, (mOff + i) * 4, NO);
            vi.intoMemorySegment(v, (vOff + i) * 4, NO);
            FloatVector denom = vi.mul(invC2).sqrt().add(eps);
            FloatVector pi = FloatVector.fromMemorySegment(S, p, (pOff + i) * 4, NO).mul(decay).sub(mi.mul(stepScale).div(denom));
            pi.intoMemorySegment(p, (pOff + i) * 4, NO);
        }
        if (i < n) super.adamw(p, pOff + i, g, gOff + i, m, mOff + i, v, vOff + i, n - i, lr, beta1, beta2, eps, weightDecay, c1, c2);
    }

    @Override
    public void sgd(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment buf, long bOff, long n,
                    float lr, float momentum, boolean nesterov, float weightDecay) {
        FloatVector wd = FloatVector.broadcast(S, weightDecay), mu = FloatVector.broadcast(S, momentum), nlr = FloatVector.broadcast(S, -lr);
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector pi = FloatVector.fromMemorySegment(S, p, (pOff + i) * 4, NO);
            FloatVector gi = pi.fma(wd, FloatVector.fromMemorySegment(S, g, (gOff + i) * 4, NO));
            FloatVector b = FloatVector.fromMemorySegment(S, buf, (bOff + i) * 4, NO).fma(mu, gi);
            b.intoMemorySegment(buf, (bOff + i) * 4, NO);
            FloatVector step = nesterov ? b.fma(mu, gi) : b;
            step.fma(nlr, pi).intoMemorySegment(p, (pOff + i) * 4, NO);
        }
        if (i < n) super.sgd(p, pOff + i, g, gOff + i, buf, bOff + i, n - i, lr, momentum, nesterov, weightDecay);
    }

    @Override
    public void ema(MemorySegment shadow, long sOff, MemorySegment p, long pOff, long n, float decay) {
        long i = 0;
        for (; i <= n - L; i += L) FloatVector.fromMemorySegment(S, shadow, (sOff + i) * 4, NO).mul(decay).add(FloatVector.fromMemorySegment(S, p, (pOff + i) * 4, NO).mul(1 - decay)).intoMemorySegment(shadow, (sOff + i) * 4, NO);
        for (; i < n; i++) shadow.setAtIndex(F, sOff + i, decay * shadow.getAtIndex(F, sOff + i) + (1 - decay) * p.getAtIndex(F, pOff + i));
    }
}
