package dev.tessera.engine.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Every numeric kernel of the engine. Kernels take segments, offsets and sizes (offsets and strides in floats, rows
 * contiguous unless a leading dimension says otherwise), never tensors: that keeps them trivial to test and benchmark.
 * {@link ScalarKernels} is the reference; the Vector API implementation must agree with it within a tolerance.
 *
 * <p>Backward kernels <em>accumulate</em> into their gradient outputs ({@code dx += ...}), as autograd needs.
 */
public interface Kernels {

    /** Short name for logs: "scalar" or "simd-512" and so on. */
    String name();

    // ---------------------------------------------------------------- GEMM

    /**
     * C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, then the epilogue. Row-major with leading dimensions;
     * op(A) = A^T when {@code transA} (A stored k x m). With beta == 0, C is not read (it may hold NaN).
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
              MemorySegment a, long aOff, long lda,
              MemorySegment b, long bOff, long ldb,
              float beta, MemorySegment c, long cOff, long ldc, Epilogue epilogue);

    /**
     * Packs op(B) (k x n) for {@link #gemmPacked} into {@code dst} (at least {@link #packedFloats} floats from dstOff),
     * or returns null when this implementation has no packed path (the caller then keeps calling {@link #gemm}).
     */
    default PackedMatrix packB(boolean transB, int k, int n, MemorySegment b, long bOff, long ldb, MemorySegment dst, long dstOff) {
        return null;
    }

    /** Floats {@link #packB} needs for a k x n matrix; 0 when there is no packed path. */
    default long packedFloats(int k, int n) { return 0; }

    /** C[m x n] = A[m x k] * B (packed), then the epilogue; C is overwritten. */
    default void gemmPacked(int m, int n, int k, MemorySegment a, long aOff, long lda, PackedMatrix b,
                            MemorySegment c, long cOff, long ldc, Epilogue epilogue) {
        throw new UnsupportedOperationException(name() + " has no packed GEMM");
    }

    /** {@code batch} independent GEMMs at strides sA, sB, sC (floats): the heads of attention. */
    default void gemmBatched(int batch, boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, long lda, long sA,
                             MemorySegment b, long bOff, long ldb, long sB,
                             float beta, MemorySegment c, long cOff, long ldc, long sC) {
        for (int i = 0; i < batch; i++) {
            gemm(transA, transB, m, n, k, alpha, a, aOff + i * sA, lda, b, bOff + i * sB, ldb, beta, c, cOff + i * sC, ldc, Epilogue.NONE);
        }
    }

    // ---------------------------------------------------------------- rows: softmax, layernorm

    /** y = softmax(x) over each row of {@code cols}; x, y: (rows, cols). y may alias x. */
    void softmax(MemorySegment x, long xOff, MemorySegment y, long yOff, int rows, int cols);

    /** dx += y * (dy - sum(dy * y)) per row. */
    void softmaxBackward(MemorySegment y, long yOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, int rows, int cols);

    /**
     * y = (x - mean) * rstd * gamma + beta per row; x, y: (rows, cols); gamma, beta: (cols); saves mean, rstd: (rows).
     * gamma and beta may be null (no affine).
     */
    void layerNorm(MemorySegment x, long xOff, MemorySegment gamma, long gOff, MemorySegment beta, long bOff,
                   MemorySegment y, long yOff, MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                   int rows, int cols, float eps);

    /** dx += ..., dgamma += sum_rows(dy * xhat), dbeta += sum_rows(dy); dgamma/dbeta may be null. */
    void layerNormBackward(MemorySegment x, long xOff, MemorySegment gamma, long gOff,
                           MemorySegment mean, long meanOff, MemorySegment rstd, long rstdOff,
                           MemorySegment dy, long dyOff, MemorySegment dx, long dxOff,
                           MemorySegment dgamma, long dgOff, MemorySegment dbeta, long dbOff, int rows, int cols);

    // ---------------------------------------------------------------- elementwise

    /** y = act(x), n elements. */
    void activation(Activation act, MemorySegment x, long xOff, MemorySegment y, long yOff, long n);

    /** dx += act'(x) * dy. */
    void activationBackward(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n);

    /** dx = act'(x) * dy, element by element: dx may be x (a saved pre-activation read for the last time). */
    void activationGrad(Activation act, MemorySegment x, long xOff, MemorySegment dy, long dyOff, MemorySegment dx, long dxOff, long n);

    /** out = a + b. */
    void add(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n);

    /** out = a * b. */
    void mul(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, long n);

    /** y += alpha * x. */
    void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, long n);

    /** out = alpha * x. */
    void scale(float alpha, MemorySegment x, long xOff, MemorySegment out, long outOff, long n);

    /** dx += dy * b (the backward of mul for one side). */
    void mulAcc(MemorySegment dy, long dyOff, MemorySegment b, long bOff, MemorySegment dx, long dxOff, long n);

    /** out[r, c] = x[r, c] + row[c]: broadcast of a (cols) vector over (rows, cols). */
    void addRow(MemorySegment x, long xOff, MemorySegment row, long rowOff, MemorySegment out, long outOff, int rows, int cols);

    /** out[c] += sum_r x[r, c]: the reduction that bias gradients and broadcast backward need. */
    void sumRows(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int cols);

    /** out[r] = sum_c x[r, c] (overwrites). */
    void sumCols(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int cols);

    /** Plain copy: the bandwidth yardstick of the elementwise kernels. */
    void copy(MemorySegment x, long xOff, MemorySegment y, long yOff, long n);

    /** sum of x^2 in double: global-norm clipping. */
    double sumSquares(MemorySegment x, long xOff, long n);

    // ---------------------------------------------------------------- losses, dropout

    /**
     * Cross-entropy from logits (rows, cols). Targets: {@code labels[r]} (hard) when {@code soft} is null, else the
     * distribution soft (rows, cols) (Mixup). Label smoothing eps mixes the target with uniform. Writes probs (rows, cols)
     * and per-row losses; returns the mean loss.
     */
    double crossEntropy(MemorySegment logits, long lOff, int[] labels, MemorySegment soft, long sOff, float smoothing,
                        MemorySegment probs, long pOff, MemorySegment losses, long lossOff, int rows, int cols);

    /** dlogits += scale * (probs - target) where target is built as in {@link #crossEntropy}. */
    void crossEntropyBackward(MemorySegment probs, long pOff, int[] labels, MemorySegment soft, long sOff, float smoothing,
                              float scale, MemorySegment dlogits, long dOff, int rows, int cols);

    /**
     * Inverted dropout: mask = (u >= p) / (1 - p) from a counter-based generator keyed by seed, so a given seed gives the
     * same mask on every path and thread; y = x * mask.
     */
    void dropout(MemorySegment x, long xOff, MemorySegment mask, long mOff, MemorySegment y, long yOff, long n, float p, long seed);

    // ---------------------------------------------------------------- attention

    /**
     * O = softmax(scale[h] * Q K^T + mask) V per (batch, head), without materialising N x N for the batch. Writes the
     * row log-sum-exp (B, H, N) for the backward pass. mask: additive (N, N) float, may hold -inf, or null. dropout
     * applies to the probabilities after the softmax (the log-sum-exp is of the undropped ones).
     */
    void attention(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                   float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                   MemorySegment o, long oOff, MemorySegment lse, long lseOff);

    default void attention(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                           float[] scale, MemorySegment mask, long maskOff, MemorySegment o, long oOff, MemorySegment lse, long lseOff) {
        attention(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, AttentionDropout.NONE, o, oOff, lse, lseOff);
    }

    /**
     * Backward by recomputation from lse. dq/dk/dv share Q's layout and are added to, or with {@code add} false written
     * whatever they held (a fresh, unfilled gradient buffer); dScale[h] += d loss / d scale[h] (may be null). dropout
     * must be the forward pass's.
     */
    void attentionBackward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                           float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                           MemorySegment o, long oOff, MemorySegment dO, long dOOff, MemorySegment lse, long lseOff,
                           MemorySegment dq, long dqOff, MemorySegment dk, long dkOff, MemorySegment dv, long dvOff,
                           double[] dScale, boolean add);

    /** As above, adding to dq, dk and dv. */
    default void attentionBackward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                   float[] scale, MemorySegment mask, long maskOff, AttentionDropout dropout,
                                   MemorySegment o, long oOff, MemorySegment dO, long dOOff, MemorySegment lse, long lseOff,
                                   MemorySegment dq, long dqOff, MemorySegment dk, long dkOff, MemorySegment dv, long dvOff,
                                   double[] dScale) {
        attentionBackward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, dropout, o, oOff, dO, dOOff, lse, lseOff, dq, dqOff, dk, dkOff, dv, dvOff, dScale, true);
    }

    default void attentionBackward(AttentionShape s, MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff,
                                   float[] scale, MemorySegment mask, long maskOff,
                                   MemorySegment o, long oOff, MemorySegment dO, long dOOff, MemorySegment lse, long lseOff,
                                   MemorySegment dq, long dqOff, MemorySegment dk, long dkOff, MemorySegment dv, long dvOff,
                                   double[] dScale) {
        attentionBackward(s, q, qOff, k, kOff, v, vOff, scale, mask, maskOff, AttentionDropout.NONE, o, oOff, dO, dOOff, lse, lseOff,
                dq, dqOff, dk, dkOff, dv, dvOff, dScale);
    }

    // ---------------------------------------------------------------- optimizers

    /** One AdamW step (decoupled decay: p -= lr*wd*p) with bias corrections c1 = 1-b1^t, c2 = 1-b2^t precomputed. */
    void adamw(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment m, long mOff, MemorySegment v, long vOff,
               long n, float lr, float beta1, float beta2, float eps, float weightDecay, float c1, float c2);

    /** SGD with momentum (buf = mu*buf + g + wd*p) and optional Nesterov. */
    void sgd(MemorySegment p, long pOff, MemorySegment g, long gOff, MemorySegment buf, long bOff, long n,
             float lr, float momentum, boolean nesterov, float weightDecay);

    /** shadow = decay * shadow + (1 - decay) * p. */
    void ema(MemorySegment shadow, long sOff, MemorySegment p, long pOff, long n, float decay);
}
