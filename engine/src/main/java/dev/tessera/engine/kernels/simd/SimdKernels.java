package dev.tessera.engine.kernels.simd;

import static jdk.incubator.vector.VectorOperators.MAX;

import dev.tessera.engine.kernels.Activation;
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
    private final FusedAttention attention = new FusedAttention();

    public SimdKernels() {
        // 32 vector registers (AVX-512) hold a 12 x 2V tile; 16 (AVX2, NEON 128 is refused earlier) hold 6 x 2V.
        micro = S.vectorBitSize() >= 512 ? new MicroKernel12x2v() : new MicroKernel6x2v();
        gemm = new GemmDriver(micro, Blocking.of(micro.mr(), micro.nr(), CpuInfo.get()));
    }

    public static int vectorBits() { return S.vectorBitSize(); }

    @Override
    public String name() { return "simd-" + S.vectorBitSize(); }

    public String microKernel() {
        Blocking b = gemm.blocking();
        return micro.mr() + "x" + micro.nr() + " (kc=" + b.kc() + ", nc=" + b.nc() + ")";
    }

    /** Elementwise work below this many floats stays on the calling thread: a fork costs more than it saves. */
    private static final long PARALLEL_MIN = 1 << 16;

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
        long per = (n / t + L - 1) / L * L;
        dev.tessera.engine.kernels.Parallel.forEach(t, i -> {
            long from = Math.min(n, i * per), to = i == t - 1 ? n : Math.min(n, from + per);
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

    private static FloatVector load(MemorySegment s, long i) { return FloatVector.fromMemorySegment(S, s, i * 4, NO); }
    private static void store(FloatVector v, MemorySegment s, long i) { v.intoMemorySegment(s, i * 4, NO); }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     MemorySegment a, long aOff, long lda, MemorySegment b, long bOff, long ldb,
                     float beta, MemorySegment c, long cOff, long ldc, Epilogue ep) {
        gemm.gemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, ep);
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

    private void softmaxSerial(MemorySegment x, long xOff, MemorySegment y, long yOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) softmaxRow(x, xOff + (long) r * cols, y, yOff + (long) r * cols, cols);
    }

    static void softmaxRow(MemorySegment x, long xr, MemorySegment y, long yr, int cols) {
        int j = 0;
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; j <= cols - L; j += L) vmax = vmax.max(load(x, xr + j));
        float max = vmax.reduceLanes(MAX);
        for (; j < cols; j++) max = Math.max(max, x.getAtIndex(F, xr + j));
        if (max == Float.NEGATIVE_INFINITY) {
            for (j = 0; j < cols; j++) y.setAtIndex(F, yr + j, 0f);
            return;
        }
        FloatVector vsum = FloatVector.zero(S);
        for (j = 0; j <= cols - L; j += L) {
            FloatVector e = SimdMath.exp(load(x, xr + j).sub(max));
            store(e, y, yr + j);
            vsum = vsum.add(e);
        }
        float sum = SimdMath.sum(vsum);
        for (; j < cols; j++) {
            float e = (float) Math.exp(x.getAtIndex(F, xr + j) - max);
            y.setAtIndex(F, yr + j, e);
            sum += e;
        }
        float inv = 1f / sum;
        for (j = 0; j <= cols - L; j += L) store(load(y, yr + j).mul(inv), y, yr + j);
        for (; j < cols; j++) y.setAtIndex(F, yr + j, y.getAtIndex(F, yr + j) * inv);
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
                FloatVector yv = load(y, yOff + o + j);
                store(yv.mul(load(dy, dyOff + o + j).sub(dot)).add(load(dx, dxOff + o + j)), dx, dxOff + o + j);
            }
            for (; j < cols; j++) {
                float yv = y.getAtIndex(F, yOff + o + j);
                dx.setAtIndex(F, dxOff + o + j, dx.getAtIndex(F, dxOff + o + j) + yv * (dy.getAtIndex(F, dyOff + o + j) - dot));
            }
        }
    }

    static float dot(MemorySegment a, long ao, MemorySegment b, long bo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) acc = load(a, ao + j).fma(load(b, bo + j), acc);
        float s = SimdMath.sum(acc);
        for (; j < n; j++) s += a.getAtIndex(F, ao + j) * b.getAtIndex(F, bo + j);
        return s;
    }

    static float sum(MemorySegment a, long ao, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) acc = acc.add(load(a, ao + j));
        float s = SimdMath.sum(acc);
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

    private void layerNormSerial(MemorySegment x, long xOff, MemorySegment gamma, long gOff, MemorySegment beta, long bOff,
                          MemorySegment y, long yOff, MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                          int rows, int cols, float eps) {
        for (int r = 0; r < rows; r++) {
            long xr = xOff + (long) r * cols, yr = yOff + (long) r * cols;
            float mu = sum(x, xr, cols) / cols;
            FloatVector acc = FloatVector.zero(S);
            int j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector d = load(x, xr + j).sub(mu);
                acc = d.fma(d, acc);
            }
            float var = SimdMath.sum(acc);
            for (; j < cols; j++) {
                float d = x.getAtIndex(F, xr + j) - mu;
                var += d * d;
            }
            float rs = (float) (1 / Math.sqrt(var / cols + eps));
            j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector v = load(x, xr + j).sub(mu).mul(rs);
                if (gamma != null) v = v.mul(load(gamma, gOff + j));
                if (beta != null) v = v.add(load(beta, bOff + j));
                store(v, y, yr + j);
            }
            for (; j < cols; j++) {
                float v = (x.getAtIndex(F, xr + j) - mu) * rs;
                if (gamma != null) v *= gamma.getAtIndex(F, gOff + j);
                if (beta != null) v += beta.getAtIndex(F, bOff + j);
                y.setAtIndex(F, yr + j, v);
            }
            mean.setAtIndex(F, meanOff + r, mu);
            rstd.setAtIndex(F, rstdOff + r, rs);
        }
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
            for (int r = 0; r < rows; r++) {
                long o = (long) r * cols;
                float mu = mean.getAtIndex(F, meanOff + r), rs = rstd.getAtIndex(F, rstdOff + r);
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector d = load(dy, dyOff + o + j);
                    if (dgamma != null) store(d.fma(load(x, xOff + o + j).sub(mu).mul(rs), load(dgamma, dgOff + j)), dgamma, dgOff + j);
                    if (dbeta != null) store(d.add(load(dbeta, dbOff + j)), dbeta, dbOff + j);
                }
                for (; j < cols; j++) {
                    float d = dy.getAtIndex(F, dyOff + o + j);
                    if (dgamma != null) dgamma.setAtIndex(F, dgOff + j, dgamma.getAtIndex(F, dgOff + j) + d * (x.getAtIndex(F, xOff + o + j) - mu) * rs);
                    if (dbeta != null) dbeta.setAtIndex(F, dbOff + j, dbeta.getAtIndex(F, dbOff + j) + d);
                }
            }
        }
    }

    private void layerNormBackwardSerial(MemorySegment x, long xOff, MemorySegment gamma, long gOff,
                                  MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                                  MemorySegment dy, long dyOff, MemorySegment dx, long dxOff,
                                  MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            float mu = mean.getAtIndex(F, meanOff + r), rs = rstd.getAtIndex(F, rstdOff + r);
            FloatVector vg = FloatVector.zero(S), vgx = FloatVector.zero(S);
            int j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector xhat = load(x, xOff + o + j).sub(mu).mul(rs);
                FloatVector d = load(dy, dyOff + o + j);
                FloatVector g = gamma == null ? d : d.mul(load(gamma, gOff + j));
                vg = vg.add(g);
                vgx = g.fma(xhat, vgx);
                if (dgamma != null) store(d.fma(xhat, load(dgamma, dgOff + j)), dgamma, dgOff + j);
                if (dbeta != null) store(d.add(load(dbeta, dbOff + j)), dbeta, dbOff + j);
            }
            float sg = SimdMath.sum(vg), sgx = SimdMath.sum(vgx);
            for (; j < cols; j++) {
                float xhat = (x.getAtIndex(F, xOff + o + j) - mu) * rs;
                float d = dy.getAtIndex(F, dyOff + o + j);
                float g = gamma == null ? d : d * gamma.getAtIndex(F, gOff + j);
                sg += g;
                sgx += g * xhat;
                if (dgamma != null) dgamma.setAtIndex(F, dgOff + j, dgamma.getAtIndex(F, dgOff + j) + d * xhat);
                if (dbeta != null) dbeta.setAtIndex(F, dbOff + j, dbeta.getAtIndex(F, dbOff + j) + d);
            }
            float mg = sg / cols, mgx = sgx / cols;
            j = 0;
            for (; j <= cols - L; j += L) {
                FloatVector xhat = load(x, xOff + o + j).sub(mu).mul(rs);
                FloatVector d = load(dy, dyOff + o + j);
                FloatVector g = gamma == null ? d : d.mul(load(gamma, gOff + j));
                FloatVector v = g.sub(mg).sub(xhat.mul(mgx)).mul(rs);
                store(v.add(load(dx, dxOff + o + j)), dx, dxOff + o + j);
            }
            for (; j < cols; j++) {
                float xhat = (x.getAtIndex(F, xOff + o + j) - mu) * rs;
                float d = dy.getAtIndex(F, dyOff + o + j);
                float g = gamma == null ? d : d * gamma.getAtIndex(F, gOff + j);
                dx.setAtIndex(F, dxOff + o + j, dx.getAtIndex(F, dxOff + o + j) + rs * (g - mg - xhat * mgx));
            }
        }
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void activation(Activation act, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        chunks(n, (f, t) -> activationSerial(act, x, xOff + f, y, yOff + f, t - f), x, y);
    }

    private void activationSerial(Activation act, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        SimdMath.activation(act, x, xOff, y, yOff, n);
    }

    @Override
    public void activationBackward(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n) {
        chunks(n, (f, t) -> activationBackwardSerial(act, x, xOff + f, dy, dyOff + f, dx, dxOff + f, t - f), x, dy, dx);
    }

    private void activationBackwardSerial(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n) {
        long i = 0;
        // One loop per activation, as in SimdMath.activation: C2 inlines each whole.
        switch (act) {
            case NONE -> { for (; i <= n - L; i += L) store(load(dy, dyOff + i).add(load(dx, dxOff + i)), dx, dxOff + i); }
            case GELU -> { for (; i <= n - L; i += L) store(SimdMath.geluGrad(load(x, xOff + i)).fma(load(dy, dyOff + i), load(dx, dxOff + i)), dx, dxOff + i); }
            case GELU_TANH -> { for (; i <= n - L; i += L) store(SimdMath.geluTanhGrad(load(x, xOff + i)).fma(load(dy, dyOff + i), load(dx, dxOff + i)), dx, dxOff + i); }
            case TANH -> { for (; i <= n - L; i += L) store(SimdMath.tanhGrad(load(x, xOff + i)).fma(load(dy, dyOff + i), load(dx, dxOff + i)), dx, dxOff + i); }
        }
        for (; i < n; i++) {
            dx.setAtIndex(F, dxOff + i, dx.getAtIndex(F, dxOff + i) + (float) (MathRef.actGrad(act, x.getAtIndex(F, xOff + i)) * dy.getAtIndex(F, dyOff + i)));
        }
    }

    @Override
    public void add(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        chunks(n, (f, t) -> addSerial(a, aOff + f, b, bOff + f, out, outOff + f, t - f), a, b, out);
    }

    private void addSerial(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) store(load(a, aOff + i).add(load(b, bOff + i)), out, outOff + i);
        for (; i < n; i++) out.setAtIndex(F, outOff + i, a.getAtIndex(F, aOff + i) + b.getAtIndex(F, bOff + i));
    }

    @Override
    public void mul(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        chunks(n, (f, t) -> mulSerial(a, aOff + f, b, bOff + f, out, outOff + f, t - f), a, b, out);
    }

    private void mulSerial(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) store(load(a, aOff + i).mul(load(b, bOff + i)), out, outOff + i);
        for (; i < n; i++) out.setAtIndex(F, outOff + i, a.getAtIndex(F, aOff + i) * b.getAtIndex(F, bOff + i));
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        chunks(n, (f, t) -> axpySerial(alpha, x, xOff + f, y, yOff + f, t - f), x, y);
    }

    private void axpySerial(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        long i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (; i <= n - L; i += L) store(load(x, xOff + i).fma(va, load(y, yOff + i)), y, yOff + i);
        for (; i < n; i++) y.setAtIndex(F, yOff + i, y.getAtIndex(F, yOff + i) + alpha * x.getAtIndex(F, xOff + i));
    }

    @Override
    public void scale(float alpha, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        chunks(n, (f, t) -> scaleSerial(alpha, x, xOff + f, out, outOff + f, t - f), x, out);
    }

    private void scaleSerial(float alpha, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) store(load(x, xOff + i).mul(alpha), out, outOff + i);
        for (; i < n; i++) out.setAtIndex(F, outOff + i, alpha * x.getAtIndex(F, xOff + i));
    }

    @Override
    public void mulAcc(MemorySegment dy, long dyOff, MemorySegment b, long bOff, MemorySegment dx, long dxOff, long n) {
        chunks(n, (f, t) -> mulAccSerial(dy, dyOff + f, b, bOff + f, dx, dxOff + f, t - f), dy, b, dx);
    }

    private void mulAccSerial(MemorySegment dy, long dyOff, MemorySegment b, long bOff, MemorySegment dx, long dxOff, long n) {
        long i = 0;
        for (; i <= n - L; i += L) store(load(dy, dyOff + i).fma(load(b, bOff + i), load(dx, dxOff + i)), dx, dxOff + i);
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
        for (int r = 0; r < rows; r++) axpySerial(1f, x, xOff + (long) r * cols, out, outOff, cols);
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
        for (; i <= n - L; i += L) store(load(x, xOff + i), y, yOff + i);
        for (; i < n; i++) y.setAtIndex(F, yOff + i, x.getAtIndex(F, xOff + i));
    }

    @Override
    public double sumSquares(MemorySegment x, long xOff, long n) {
        // Float lanes over blocks of 4096, folded into a double: accurate and still one FMA per element.
        double total = 0;
        for (long b = 0; b < n; b += 4096) {
            long e = Math.min(n, b + 4096);
            FloatVector acc = FloatVector.zero(S);
            long i = b;
            for (; i <= e - L; i += L) {
                FloatVector v = load(x, xOff + i);
                acc = v.fma(v, acc);
            }
            double s = SimdMath.sum(acc);
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
                          float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        attention.forward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, lse, lseOff);
    }

    @Override
    public void attentionBackward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                  float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment dO, long dOOff,
                                  MemorySegment lse, long lseOff, MemorySegment dq, long dqOff, MemorySegment dk, long dkOff,
                                  MemorySegment dv, long dvOff, double[] dScale) {
        attention.backward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, o, oOff, dO, dOOff, lse, lseOff, dq, dqOff, dk, dkOff, dv, dvOff, dScale);
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
            FloatVector gi = load(g, gOff + i);
            FloatVector mi = load(m, mOff + i).mul(beta1).add(gi.mul(1 - beta1));
            FloatVector vi = load(v, vOff + i).mul(beta2).add(gi.mul(gi).mul(1 - beta2));
            store(mi, m, mOff + i);
            store(vi, v, vOff + i);
            FloatVector denom = vi.mul(invC2).sqrt().add(eps);
            FloatVector pi = load(p, pOff + i).mul(decay).sub(mi.mul(stepScale).div(denom));
            store(pi, p, pOff + i);
        }
        if (i < n) super.adamw(p, pOff + i, g, gOff + i, m, mOff + i, v, vOff + i, n - i, lr, beta1, beta2, eps, weightDecay, c1, c2);
    }

    @Override
    public void sgd(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment buf, long bOff, long n,
                    float lr, float momentum, boolean nesterov, float weightDecay) {
        FloatVector wd = FloatVector.broadcast(S, weightDecay), mu = FloatVector.broadcast(S, momentum), nlr = FloatVector.broadcast(S, -lr);
        long i = 0;
        for (; i <= n - L; i += L) {
            FloatVector pi = load(p, pOff + i);
            FloatVector gi = pi.fma(wd, load(g, gOff + i));
            FloatVector b = load(buf, bOff + i).fma(mu, gi);
            store(b, buf, bOff + i);
            FloatVector step = nesterov ? b.fma(mu, gi) : b;
            store(step.fma(nlr, pi), p, pOff + i);
        }
        if (i < n) super.sgd(p, pOff + i, g, gOff + i, buf, bOff + i, n - i, lr, momentum, nesterov, weightDecay);
    }

    @Override
    public void ema(MemorySegment shadow, long sOff, MemorySegment p, long pOff, long n, float decay) {
        long i = 0;
        for (; i <= n - L; i += L) store(load(shadow, sOff + i).mul(decay).add(load(p, pOff + i).mul(1 - decay)), shadow, sOff + i);
        for (; i < n; i++) shadow.setAtIndex(F, sOff + i, decay * shadow.getAtIndex(F, sOff + i) + (1 - decay) * p.getAtIndex(F, pOff + i));
    }
}
