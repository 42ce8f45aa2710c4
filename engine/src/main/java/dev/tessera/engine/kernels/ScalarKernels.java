package dev.tessera.engine.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The reference kernels: plain loops, obviously correct, accumulating in double where it matters. Also the fallback
 * when the Vector API is not available. Imports nothing from jdk.incubator.vector.
 */
public class ScalarKernels implements Kernels {
    protected static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    protected static float ld(MemorySegment s, long i) { return s.getAtIndex(F, i); }
    protected static void st(MemorySegment s, long i, float v) { s.setAtIndex(F, i, v); }

    @Override
    public String name() { return "scalar"; }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     MemorySegment a, long aOff, long lda, MemorySegment b, long bOff, long ldb,
                     float beta, MemorySegment c, long cOff, long ldc, Epilogue ep) {
        // C: (m, n); A: (m, k) or (k, m) when transA; B: (k, n) or (n, k) when transB.
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    float av = transA ? ld(a, aOff + p * lda + i) : ld(a, aOff + i * lda + p);
                    float bv = transB ? ld(b, bOff + j * ldb + p) : ld(b, bOff + p * ldb + j);
                    acc += (double) av * bv;
                }
                long ci = cOff + i * ldc + j;
                double v = alpha * acc + (beta == 0f ? 0 : beta * (double) ld(c, ci));
                st(c, ci, (float) v);
            }
        }
        if (ep != null && !ep.isNone()) applyEpilogue(ep, c, cOff, ldc, 0, m, 0, n);
    }

    /** The epilogue over rows [i0, i1) and columns [j0, j1) of C. */
    public static void applyEpilogue(Epilogue ep, MemorySegment c, long cOff, long ldc, int i0, int i1, int j0, int j1) {
        for (int i = i0; i < i1; i++) {
            for (int j = j0; j < j1; j++) {
                long ci = cOff + i * ldc + j;
                float v = ld(c, ci);
                if (ep.bias() != null) v += ld(ep.bias(), ep.biasOff() + j);
                if (ep.preAct() != null) st(ep.preAct(), ep.preActOff() + i * ep.ldp() + j, v);
                v = (float) MathRef.act(ep.act(), v);
                if (ep.residual() != null) v += ld(ep.residual(), ep.residualOff() + i * ep.ldr() + j);
                st(c, ci, v);
            }
        }
    }

    // ---------------------------------------------------------------- softmax, layernorm

    @Override
    public void softmax(MemorySegment x, long xOff, MemorySegment y, long yOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long xr = xOff + (long) r * cols, yr = yOff + (long) r * cols;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) max = Math.max(max, ld(x, xr + j));
            if (max == Float.NEGATIVE_INFINITY) {
                for (int j = 0; j < cols; j++) st(y, yr + j, 0f); // a fully masked row attends to nothing
                continue;
            }
            double sum = 0;
            for (int j = 0; j < cols; j++) {
                float e = (float) Math.exp(ld(x, xr + j) - max);
                st(y, yr + j, e);
                sum += e;
            }
            float inv = (float) (1 / sum);
            for (int j = 0; j < cols; j++) st(y, yr + j, ld(y, yr + j) * inv);
        }
    }

    @Override
    public void softmaxBackward(MemorySegment y, long yOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            double dot = 0;
            for (int j = 0; j < cols; j++) dot += (double) ld(y, yOff + o + j) * ld(dy, dyOff + o + j);
            for (int j = 0; j < cols; j++) {
                float yv = ld(y, yOff + o + j);
                st(dx, dxOff + o + j, ld(dx, dxOff + o + j) + (float) (yv * (ld(dy, dyOff + o + j) - dot)));
            }
        }
    }

    @Override
    public void layerNorm(MemorySegment x, long xOff, MemorySegment gamma, long gOff, MemorySegment beta, long bOff,
                          MemorySegment y, long yOff, MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                          int rows, int cols, float eps) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            double s = 0;
            for (int j = 0; j < cols; j++) s += ld(x, xOff + o + j);
            double mu = s / cols, var = 0;
            for (int j = 0; j < cols; j++) {
                double d = ld(x, xOff + o + j) - mu;
                var += d * d;
            }
            double rs = 1 / Math.sqrt(var / cols + eps);
            for (int j = 0; j < cols; j++) {
                double v = (ld(x, xOff + o + j) - mu) * rs;
                if (gamma != null) v *= ld(gamma, gOff + j);
                if (beta != null) v += ld(beta, bOff + j);
                st(y, yOff + o + j, (float) v);
            }
            st(mean, meanOff + r, (float) mu);
            st(rstd, rstdOff + r, (float) rs);
        }
    }

    @Override
    public void layerNormBackward(MemorySegment x, long xOff, MemorySegment gamma, long gOff,
                                  MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                                  MemorySegment dy, long dyOff, MemorySegment dx, long dxOff,
                                  MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            double mu = ld(mean, meanOff + r), rs = ld(rstd, rstdOff + r);
            double sumG = 0, sumGx = 0;
            for (int j = 0; j < cols; j++) {
                double xhat = (ld(x, xOff + o + j) - mu) * rs;
                double g = ld(dy, dyOff + o + j) * (gamma == null ? 1 : ld(gamma, gOff + j));
                sumG += g;
                sumGx += g * xhat;
                if (dgamma != null) st(dgamma, dgOff + j, (float) (ld(dgamma, dgOff + j) + ld(dy, dyOff + o + j) * xhat));
                if (dbeta != null) st(dbeta, dbOff + j, ld(dbeta, dbOff + j) + ld(dy, dyOff + o + j));
            }
            for (int j = 0; j < cols; j++) {
                double xhat = (ld(x, xOff + o + j) - mu) * rs;
                double g = ld(dy, dyOff + o + j) * (gamma == null ? 1 : ld(gamma, gOff + j));
                double d = rs * (g - sumG / cols - xhat * sumGx / cols);
                st(dx, dxOff + o + j, (float) (ld(dx, dxOff + o + j) + d));
            }
        }
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void activation(Activation act, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        for (long i = 0; i < n; i++) st(y, yOff + i, (float) MathRef.act(act, ld(x, xOff + i)));
    }

    @Override
    public void activationBackward(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n) {
        for (long i = 0; i < n; i++) {
            st(dx, dxOff + i, ld(dx, dxOff + i) + (float) (MathRef.actGrad(act, ld(x, xOff + i)) * ld(dy, dyOff + i)));
        }
    }

    @Override
    public void activationGrad(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n) {
        for (long i = 0; i < n; i++) st(dx, dxOff + i, (float) (MathRef.actGrad(act, ld(x, xOff + i)) * ld(dy, dyOff + i)));
    }

    @Override
    public void add(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        for (long i = 0; i < n; i++) st(out, outOff + i, ld(a, aOff + i) + ld(b, bOff + i));
    }

    @Override
    public void mul(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n) {
        for (long i = 0; i < n; i++) st(out, outOff + i, ld(a, aOff + i) * ld(b, bOff + i));
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        for (long i = 0; i < n; i++) st(y, yOff + i, ld(y, yOff + i) + alpha * ld(x, xOff + i));
    }

    @Override
    public void scale(float alpha, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        for (long i = 0; i < n; i++) st(out, outOff + i, alpha * ld(x, xOff + i));
    }

    @Override
    public void mulAcc(MemorySegment dy, long dyOff, MemorySegment b, long bOff, MemorySegment dx, long dxOff, long n) {
        for (long i = 0; i < n; i++) st(dx, dxOff + i, ld(dx, dxOff + i) + ld(dy, dyOff + i) * ld(b, bOff + i));
    }

    @Override
    public void addRow(MemorySegment x, long xOff, MemorySegment row, long rowOff, MemorySegment out, long outOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            for (int j = 0; j < cols; j++) st(out, outOff + o + j, ld(x, xOff + o + j) + ld(row, rowOff + j));
        }
    }

    @Override
    public void sumRows(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int cols) {
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int r = 0; r < rows; r++) s += ld(x, xOff + (long) r * cols + j);
            st(out, outOff + j, (float) (ld(out, outOff + j) + s));
        }
    }

    @Override
    public void sumCols(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int j = 0; j < cols; j++) s += ld(x, xOff + (long) r * cols + j);
            st(out, outOff + r, (float) s);
        }
    }

    @Override
    public void copy(MemorySegment x, long xOff, MemorySegment y, long yOff, long n) {
        for (long i = 0; i < n; i++) st(y, yOff + i, ld(x, xOff + i));
    }

    @Override
    public double sumSquares(MemorySegment x, long xOff, long n) {
        double s = 0;
        for (long i = 0; i < n; i++) {
            double v = ld(x, xOff + i);
            s += v * v;
        }
        return s;
    }

    // ---------------------------------------------------------------- losses, dropout

    @Override
    public double crossEntropy(MemorySegment logits, long lOff, int[] labels, MemorySegment soft, long sOff, float smoothing,
                               MemorySegment probs, long pOff, MemorySegment losses, long lossOff, int rows, int cols) {
        double total = 0;
        for (int r = 0; r < rows; r++) {
            long o = (long) r * cols;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) max = Math.max(max, ld(logits, lOff + o + j));
            double sum = 0;
            for (int j = 0; j < cols; j++) sum += Math.exp(ld(logits, lOff + o + j) - max);
            double lse = max + Math.log(sum);
            double loss = 0;
            for (int j = 0; j < cols; j++) {
                double lp = ld(logits, lOff + o + j) - lse;
                st(probs, pOff + o + j, (float) Math.exp(lp));
                double t = target(labels, soft, sOff, smoothing, r, j, cols);
                if (t != 0) loss -= t * lp;
            }
            if (losses != null) st(losses, lossOff + r, (float) loss);
            total += loss;
        }
        return total / rows;
    }

    /** The target probability of class j for row r: hard label or soft row, mixed with uniform by smoothing. */
    public static double target(int[] labels, MemorySegment soft, long sOff, float smoothing, int r, int j, int cols) {
        double t;
        if (soft != null) {
            t = ld(soft, sOff + (long) r * cols + j);
        } else {
            int y = labels[r];
            if (y < 0 || y >= cols) throw new IllegalArgumentException("label " + y + " of row " + r + " outside [0, " + cols + ")");
            t = y == j ? 1 : 0;
        }
        return (1 - smoothing) * t + smoothing / cols;
    }

    @Override
    public void crossEntropyBackward(MemorySegment probs, long pOff, int[] labels, MemorySegment soft, long sOff, float smoothing,
                                     float scale, MemorySegment dlogits, long dOff, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) {
                long i = (long) r * cols + j;
                double g = ld(probs, pOff + i) - target(labels, soft, sOff, smoothing, r, j, cols);
                st(dlogits, dOff + i, ld(dlogits, dOff + i) + (float) (scale * g));
            }
        }
    }

    @Override
    public void dropout(MemorySegment x, long xOff, MemorySegment mask, long mOff, MemorySegment y, long yOff, long n, float p, long seed) {
        float keep = 1f / (1f - p);
        for (long i = 0; i < n; i++) {
            float m = MathRef.uniform(seed, i) >= p ? keep : 0f;
            st(mask, mOff + i, m);
            st(y, yOff + i, ld(x, xOff + i) * m);
        }
    }

    // ---------------------------------------------------------------- attention (naive, row at a time)

    @Override
    public void attention(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                          float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                          MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        int n = s.tokens(), d = s.headDim();
        double[] row = new double[n];
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < s.heads(); h++) {
                long base = b * s.sB() + h * s.sH();
                long obase = oOff + b * s.oB() + h * s.oH();
                for (int i = 0; i < n; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        double dot = 0;
                        for (int t = 0; t < d; t++) dot += (double) ld(q, qOff + base + i * s.sN() + t) * ld(k, kOff + base + j * s.sN() + t);
                        double sc = scale[h] * dot + (mask == null ? 0 : ld(mask, maskOff + (long) i * n + j));
                        row[j] = sc;
                        max = Math.max(max, sc);
                    }
                    double sum = 0;
                    if (max != Double.NEGATIVE_INFINITY) {
                        for (int j = 0; j < n; j++) {
                            row[j] = Math.exp(row[j] - max);
                            sum += row[j];
                        }
                    }
                    for (int t = 0; t < d; t++) {
                        double acc = 0;
                        if (sum > 0) {
                            long bh = (long) b * s.heads() + h;
                            for (int j = 0; j < n; j++) acc += row[j] * dropout.factor(bh, i, j) * ld(v, vOff + base + j * s.sN() + t);
                        }
                        st(o, obase + i * s.oN() + t, (float) (sum > 0 ? acc / sum : 0));
                    }
                    st(lse, lseOff + ((long) b * s.heads() + h) * n + i, (float) (sum > 0 ? max + Math.log(sum) : Double.NEGATIVE_INFINITY));
                }
            }
        }
    }

    @Override
    public void attentionBackward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                  float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                                  MemorySegment o, long oOff, MemorySegment dO, long dOOff, MemorySegment lse, long lseOff,
                                  MemorySegment dq, long dqOff, MemorySegment dk, long dkOff, MemorySegment dv, long dvOff,
                                  double[] dScale, boolean add) {
        int n = s.tokens(), d = s.headDim();
        if (!add) {
            // The reference adds below: start every head's rows of dq, dk and dv from zero.
            for (int b = 0; b < s.batch(); b++) {
                for (int h = 0; h < s.heads(); h++) {
                    for (int i = 0; i < n; i++) {
                        long row = b * s.sB() + h * s.sH() + i * s.sN();
                        for (int t = 0; t < d; t++) {
                            st(dq, dqOff + row + t, 0f);
                            st(dk, dkOff + row + t, 0f);
                            st(dv, dvOff + row + t, 0f);
                        }
                    }
                }
            }
        }
        double[] p = new double[n], raw = new double[n], dp = new double[n];
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < s.heads(); h++) {
                long base = b * s.sB() + h * s.sH();
                long obase = b * s.oB() + h * s.oH();
                for (int i = 0; i < n; i++) {
                    float l = ld(lse, lseOff + ((long) b * s.heads() + h) * n + i);
                    if (l == Float.NEGATIVE_INFINITY) continue;
                    double di = 0;
                    for (int t = 0; t < d; t++) di += (double) ld(dO, dOOff + obase + i * s.oN() + t) * ld(o, oOff + obase + i * s.oN() + t);
                    for (int j = 0; j < n; j++) {
                        double dot = 0, dpj = 0;
                        for (int t = 0; t < d; t++) {
                            dot += (double) ld(q, qOff + base + i * s.sN() + t) * ld(k, kOff + base + j * s.sN() + t);
                            dpj += (double) ld(dO, dOOff + obase + i * s.oN() + t) * ld(v, vOff + base + j * s.sN() + t);
                        }
                        raw[j] = dot;
                        double sc = scale[h] * dot + (mask == null ? 0 : ld(mask, maskOff + (long) i * n + j));
                        p[j] = Math.exp(sc - l);
                        dp[j] = dpj;
                    }
                    double ds = 0;
                    long bh = (long) b * s.heads() + h;
                    for (int j = 0; j < n; j++) {
                        double f = dropout.factor(bh, i, j);
                        double dsj = p[j] * (f * dp[j] - di);
                        ds += dsj * raw[j];
                        for (int t = 0; t < d; t++) {
                            long qi = base + i * s.sN() + t, kj = base + j * s.sN() + t;
                            st(dq, dqOff + qi, ld(dq, dqOff + qi) + (float) (scale[h] * dsj * ld(k, kOff + kj)));
                            st(dk, dkOff + kj, ld(dk, dkOff + kj) + (float) (scale[h] * dsj * ld(q, qOff + qi)));
                            st(dv, dvOff + kj, ld(dv, dvOff + kj) + (float) (f * p[j] * ld(dO, dOOff + obase + i * s.oN() + t)));
                        }
                    }
                    if (dScale != null) dScale[h] += ds;
                }
            }
        }
    }

    // ---------------------------------------------------------------- optimizers

    @Override
    public void adamw(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment m, long mOff, MemorySegment v, long vOff,
                      long n, float lr, float beta1, float beta2, float eps, float weightDecay, float c1, float c2) {
        for (long i = 0; i < n; i++) {
            float gi = ld(g, gOff + i);
            float mi = beta1 * ld(m, mOff + i) + (1 - beta1) * gi;
            float vi = beta2 * ld(v, vOff + i) + (1 - beta2) * gi * gi;
            st(m, mOff + i, mi);
            st(v, vOff + i, vi);
            float pi = ld(p, pOff + i);
            pi -= lr * weightDecay * pi;
            pi -= lr * (mi / c1) / ((float) Math.sqrt(vi / c2) + eps);
            st(p, pOff + i, pi);
        }
    }

    @Override
    public void sgd(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment buf, long bOff, long n,
                    float lr, float momentum, boolean nesterov, float weightDecay) {
        for (long i = 0; i < n; i++) {
            float pi = ld(p, pOff + i);
            float gi = ld(g, gOff + i) + weightDecay * pi;
            float b = momentum * ld(buf, bOff + i) + gi;
            st(buf, bOff + i, b);
            float step = nesterov ? gi + momentum * b : b;
            st(p, pOff + i, pi - lr * step);
        }
    }

    @Override
    public void ema(MemorySegment shadow, long sOff, MemorySegment p, long pOff, long n, float decay) {
        for (long i = 0; i < n; i++) st(shadow, sOff + i, decay * ld(shadow, sOff + i) + (1 - decay) * ld(p, pOff + i));
    }
}
