package dev.tessera.engine.autograd;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.AttentionDropout;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.tensor.Shapes;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The differentiable ops: each computes its output with one kernel (output in the tape's workspace) and records its
 * backward, which accumulates into the inputs' gradients. One plain method per op, shapes in the comment (llm.c style).
 * Inputs must be contiguous unless the op says otherwise; {@link #contiguous} makes a differentiable copy.
 */
public final class Ops {
    private Ops() {}

    private static void requireContiguous(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && !t.isContiguous()) throw new TensorException(op + ": input " + t.shapeString() + " is not contiguous; call Ops.contiguous first");
            if (t != null) t.checkAlive();
        }
    }

    private static int lastDim(Tensor t) { return t.dim(-1); }

    private static int rows(Tensor t) { return (int) (t.numel() / Math.max(1, lastDim(t))); }

    // ---------------------------------------------------------------- linear

    /**
     * y = act(x W + b) (+ residual). x: (..., in), W: (in, out), b: (out) or null, residual: (..., out) or null
     * -> y: (..., out). One GEMM pass with the fused epilogue; the GELU input is kept only when training needs it.
     */
    public static Tensor linear(Tape tape, Tensor x, Tensor w, Tensor b, Activation act, Tensor residual) {
        return linear(tape, x, w, false, b, act, residual);
    }

    /** As above with W stored (out, in) when {@code wOutIn}: PyTorch's layout, multiplied as x W^T without a copy. */
    public static Tensor linear(Tape tape, Tensor x, Tensor w, boolean wOutIn, Tensor b, Activation act, Tensor residual) {
        return linear(tape, x, w, wOutIn, null, b, act, residual);
    }

    /**
     * As above, the forward GEMM reading {@code packed} (W pre-packed by these kernels) when given; backward still
     * uses W itself.
     */
    public static Tensor linear(Tape tape, Tensor x, Tensor w, boolean wOutIn, dev.tessera.engine.kernels.PackedMatrix packed,
                                Tensor b, Activation act, Tensor residual) {
        requireContiguous("linear", x, w, b, residual);
        int in = lastDim(x), out = w.dim(wOutIn ? 0 : 1), r = rows(x);
        if (w.rank() != 2 || w.dim(wOutIn ? 1 : 0) != in) throw new TensorException("linear: x " + x.shapeString() + " times W " + w.shapeString() + ": inner sizes differ");
        if (b != null && (b.numel() != out)) throw new TensorException("linear: bias " + b.shapeString() + " for W " + w.shapeString());
        int[] yShape = x.shape();
        yShape[yShape.length - 1] = out;
        if (residual != null) Shapes.requireSame("linear residual", yShape, residual.shape());
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(yShape);
        boolean grad = tape.needsGrad(x, w, b, residual);
        Tensor pre = grad && act != Activation.NONE ? tape.workspace().allocate(yShape) : null;
        Epilogue ep = new Epilogue(b == null ? null : b.segment(), b == null ? 0 : b.offset(), act,
                residual == null ? null : residual.segment(), residual == null ? 0 : residual.offset(), out,
                pre == null ? null : pre.segment(), pre == null ? 0 : pre.offset(), out);
        if (packed != null && packed.packedBy().equals(k.name())) {
            k.gemmPacked(r, out, in, x.segment(), x.offset(), in, packed, y.segment(), y.offset(), out, ep);
        } else {
            k.gemm(false, wOutIn, r, out, in, 1f, x.segment(), x.offset(), in, w.segment(), w.offset(), wOutIn ? in : out, 0f, y.segment(), y.offset(), out, ep);
        }
        if (grad) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y);
                Tensor dz = dy;
                if (act != Activation.NONE) {
                    // The saved pre-activation is read here for the last time: its gradient overwrites it in place.
                    dz = pre;
                    k.activationGrad(act, pre.segment(), pre.offset(), dy.segment(), dy.offset(), dz.segment(), dz.offset(), dz.numel());
                }
                if (b != null && b.requiresGrad()) {
                    Tensor db = tape.grad(b);
                    k.sumRows(dz.segment(), dz.offset(), db.segment(), db.offset(), r, out);
                }
                if (w.requiresGrad() && !wOutIn) {
                    Tensor dw = tape.grad(w); // dW (in, out) += x^T (in, r) dz (r, out)
                    k.gemm(true, false, in, out, r, 1f, x.segment(), x.offset(), in, dz.segment(), dz.offset(), out, 1f, dw.segment(), dw.offset(), out, Epilogue.NONE);
                } else if (w.requiresGrad()) {
                    Tensor dw = tape.grad(w); // dW (out, in) += dz^T (out, r) x (r, in)
                    k.gemm(true, false, out, in, r, 1f, dz.segment(), dz.offset(), out, x.segment(), x.offset(), in, 1f, dw.segment(), dw.offset(), in, Epilogue.NONE);
                }
                if (x.requiresGrad()) {
                    // dx (r, in) += dz (r, out) W^T (out, in), or dz W when W is (out, in); = when x has no gradient yet.
                    boolean fresh = x.grad() == null;
                    Tensor dx = tape.gradToWrite(x);
                    k.gemm(false, !wOutIn, r, in, out, 1f, dz.segment(), dz.offset(), out, w.segment(), w.offset(), wOutIn ? in : out, fresh ? 0f : 1f, dx.segment(), dx.offset(), in, Epilogue.NONE);
                }
                // Last: dy is read above, and after this op nothing reads it, so the residual may take it over.
                if (residual != null && residual.requiresGrad() && !tape.passGrad(residual, dy)) {
                    Tensor dr = tape.grad(residual);
                    k.axpy(1f, dy.segment(), dy.offset(), dr.segment(), dr.offset(), dy.numel());
                }
            });
        }
        return y;
    }

    /** y = x W + b. */
    public static Tensor linear(Tape tape, Tensor x, Tensor w, Tensor b) {
        return linear(tape, x, w, b, Activation.NONE, null);
    }

    /** c = a (m, k) b (k, n) -> (m, n): a plain differentiable matmul. */
    public static Tensor matmul(Tape tape, Tensor a, Tensor b) {
        requireContiguous("matmul", a, b);
        if (a.rank() != 2 || b.rank() != 2 || a.dim(1) != b.dim(0)) throw new TensorException("matmul " + a.shapeString() + " x " + b.shapeString());
        return linear(tape, a, b, null);
    }

    // ---------------------------------------------------------------- normalisation, activations

    /** y = LayerNorm(x) over the last dim. x: (..., D), gamma, beta: (D) or null. */
    public static Tensor layerNorm(Tape tape, Tensor x, Tensor gamma, Tensor beta, float eps) {
        requireContiguous("layerNorm", x, gamma, beta);
        int d = lastDim(x), r = rows(x);
        if (gamma != null && gamma.numel() != d) throw new TensorException("layerNorm: gamma " + gamma.shapeString() + " for x " + x.shapeString());
        if (beta != null && beta.numel() != d) throw new TensorException("layerNorm: beta " + beta.shapeString() + " for x " + x.shapeString());
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(x.shape());
        Tensor mean = tape.workspace().allocate(r), rstd = tape.workspace().allocate(r);
        k.layerNorm(x.segment(), x.offset(), gamma == null ? null : gamma.segment(), gamma == null ? 0 : gamma.offset(),
                beta == null ? null : beta.segment(), beta == null ? 0 : beta.offset(), y.segment(), y.offset(),
                mean.segment(), mean.offset(), rstd.segment(), rstd.offset(), r, d, eps);
        if (tape.needsGrad(x, gamma, beta)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y);
                Tensor dx = x.requiresGrad() ? tape.grad(x) : tape.workspace().zeros(x.shape());
                Tensor dg = gamma != null && gamma.requiresGrad() ? tape.grad(gamma) : null;
                Tensor db = beta != null && beta.requiresGrad() ? tape.grad(beta) : null;
                k.layerNormBackward(x.segment(), x.offset(), gamma == null ? null : gamma.segment(), gamma == null ? 0 : gamma.offset(),
                        mean.segment(), mean.offset(), rstd.segment(), rstd.offset(), dy.segment(), dy.offset(), dx.segment(), dx.offset(),
                        dg == null ? null : dg.segment(), dg == null ? 0 : dg.offset(), db == null ? null : db.segment(), db == null ? 0 : db.offset(), r, d);
            });
        }
        return y;
    }

    /** y = act(x), elementwise. */
    public static Tensor activation(Tape tape, Tensor x, Activation act) {
        requireContiguous("activation", x);
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(x.shape());
        k.activation(act, x.segment(), x.offset(), y.segment(), y.offset(), x.numel());
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                k.activationBackward(act, x.segment(), x.offset(), dy.segment(), dy.offset(), dx.segment(), dx.offset(), x.numel());
            });
        }
        return y;
    }

    public static Tensor gelu(Tape tape, Tensor x) { return activation(tape, x, Activation.GELU); }

    /** Rows of the last dim softmax-ed. */
    public static Tensor softmax(Tape tape, Tensor x) {
        requireContiguous("softmax", x);
        Kernels k = tape.kernels();
        int c = lastDim(x), r = rows(x);
        Tensor y = tape.workspace().allocate(x.shape());
        k.softmax(x.segment(), x.offset(), y.segment(), y.offset(), r, c);
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                k.softmaxBackward(y.segment(), y.offset(), dy.segment(), dy.offset(), dx.segment(), dx.offset(), r, c);
            });
        }
        return y;
    }

    // ---------------------------------------------------------------- elementwise with broadcasting

    /**
     * a + b where b's shape equals a's or is a suffix of it (broadcast over the leading dims, e.g. a position
     * embedding (N, D) over (B, N, D)).
     */
    public static Tensor add(Tape tape, Tensor a, Tensor b) {
        requireContiguous("add", a, b);
        int cols = suffixBroadcast("add", a, b);
        int rows = (int) (a.numel() / cols);
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(a.shape());
        if (rows == 1) k.add(a.segment(), a.offset(), b.segment(), b.offset(), y.segment(), y.offset(), a.numel());
        else k.addRow(a.segment(), a.offset(), b.segment(), b.offset(), y.segment(), y.offset(), rows, cols);
        if (tape.needsGrad(a, b)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y);
                if (a.requiresGrad()) {
                    Tensor da = tape.grad(a);
                    k.axpy(1f, dy.segment(), dy.offset(), da.segment(), da.offset(), dy.numel());
                }
                if (b.requiresGrad()) {
                    Tensor db = tape.grad(b);
                    k.sumRows(dy.segment(), dy.offset(), db.segment(), db.offset(), rows, cols);
                }
            });
        }
        return y;
    }

    private static int suffixBroadcast(String op, Tensor a, Tensor b) {
        int[] as = a.shape(), bs = b.shape();
        if (bs.length > as.length) throw new TensorException(op + ": cannot broadcast " + b.shapeString() + " to " + a.shapeString());
        for (int i = 0; i < bs.length; i++) {
            if (bs[bs.length - 1 - i] != as[as.length - 1 - i]) throw new TensorException(op + ": cannot broadcast " + b.shapeString() + " to " + a.shapeString());
        }
        return (int) Math.max(1, b.numel());
    }

    /** a * b, same shapes. */
    public static Tensor mul(Tape tape, Tensor a, Tensor b) {
        requireContiguous("mul", a, b);
        Shapes.requireSame("mul", a.shape(), b.shape());
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(a.shape());
        k.mul(a.segment(), a.offset(), b.segment(), b.offset(), y.segment(), y.offset(), a.numel());
        if (tape.needsGrad(a, b)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y);
                if (a.requiresGrad()) k.mulAcc(dy.segment(), dy.offset(), b.segment(), b.offset(), tape.grad(a).segment(), tape.grad(a).offset(), a.numel());
                if (b.requiresGrad()) k.mulAcc(dy.segment(), dy.offset(), a.segment(), a.offset(), tape.grad(b).segment(), tape.grad(b).offset(), b.numel());
            });
        }
        return y;
    }

    /** alpha * x. */
    public static Tensor scale(Tape tape, Tensor x, float alpha) {
        requireContiguous("scale", x);
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(x.shape());
        k.scale(alpha, x.segment(), x.offset(), y.segment(), y.offset(), x.numel());
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                k.axpy(alpha, dy.segment(), dy.offset(), dx.segment(), dx.offset(), x.numel());
            });
        }
        return y;
    }

    /** Mean over {@code axis}, which is dropped. x contiguous. */
    public static Tensor mean(Tape tape, Tensor x, int axis) {
        return reduce(tape, x, axis, true);
    }

    /** Sum over {@code axis}, which is dropped. */
    public static Tensor sum(Tape tape, Tensor x, int axis) {
        return reduce(tape, x, axis, false);
    }

    private static Tensor reduce(Tape tape, Tensor x, int axis, boolean mean) {
        requireContiguous(mean ? "mean" : "sum", x);
        int a = axis < 0 ? axis + x.rank() : axis;
        int[] s = x.shape();
        if (a < 0 || a >= s.length) throw new TensorException("reduce: axis " + axis + " out of range for " + x.shapeString());
        int outer = 1, inner = 1, n = s[a];
        for (int i = 0; i < a; i++) outer *= s[i];
        for (int i = a + 1; i < s.length; i++) inner *= s[i];
        int[] ys = new int[s.length - 1];
        for (int i = 0, j = 0; i < s.length; i++) if (i != a) ys[j++] = s[i];
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().zeros(ys);
        float f = mean ? 1f / n : 1f;
        final int fo = outer, fi = inner;
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < n; i++) {
                k.axpy(f, x.segment(), x.offset() + ((long) o * n + i) * inner, y.segment(), y.offset() + (long) o * inner, inner);
            }
        }
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                for (int o = 0; o < fo; o++) {
                    for (int i = 0; i < n; i++) {
                        k.axpy(f, dy.segment(), dy.offset() + (long) o * fi, dx.segment(), dx.offset() + ((long) o * n + i) * fi, fi);
                    }
                }
            });
        }
        return y;
    }

    // ---------------------------------------------------------------- shape ops

    /** A contiguous copy of any view, differentiable. */
    public static Tensor contiguous(Tape tape, Tensor x) {
        x.checkAlive();
        Tensor y = tape.workspace().allocate(x.shape()).copyFrom(x);
        if (tape.needsGrad(x)) tape.record(y, () -> accumulate(tape, tape.grad(x), tape.grad(y)));
        return y;
    }

    /** Reshape of a contiguous tensor (a view forward; the gradient is reshaped back). */
    public static Tensor reshape(Tape tape, Tensor x, int... shape) {
        requireContiguous("reshape", x);
        Tensor y = tape.workspace().allocate(Shapes.resolve(x.shape(), shape));
        tape.kernels().copy(x.segment(), x.offset(), y.segment(), y.offset(), x.numel());
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                tape.kernels().axpy(1f, dy.segment(), dy.offset(), dx.segment(), dx.offset(), x.numel());
            });
        }
        return y;
    }

    /** Permuted contiguous copy: y = x.permute(perm).contiguous(). */
    public static Tensor permute(Tape tape, Tensor x, int... perm) {
        int[] p = perm.clone();
        return viewCopy(tape, x, t -> t.permute(p));
    }

    /** Elements [start, end) of axis, as a contiguous copy. */
    public static Tensor slice(Tape tape, Tensor x, int axis, int start, int end) {
        return viewCopy(tape, x, t -> t.slice(axis, start, end));
    }

    /** A contiguous copy of view(x); the gradient flows back through the same view of x's gradient. */
    private static Tensor viewCopy(Tape tape, Tensor x, java.util.function.UnaryOperator<Tensor> view) {
        x.checkAlive();
        Tensor v = view.apply(x);
        Tensor y = tape.workspace().allocate(v.shape()).copyFrom(v);
        if (tape.needsGrad(x)) tape.record(y, () -> accumulate(tape, view.apply(tape.grad(x)), tape.grad(y)));
        return y;
    }

    /** Concatenation along axis; every input contiguous or not, shapes equal but on axis. */
    public static Tensor concat(Tape tape, int axis, Tensor... xs) {
        if (xs.length == 0) throw new TensorException("concat of nothing");
        int a = axis < 0 ? axis + xs[0].rank() : axis;
        int[] s = xs[0].shape();
        int total = 0;
        for (Tensor t : xs) {
            int[] ts = t.shape();
            if (ts.length != s.length) throw new TensorException("concat along " + axis + ": " + Arrays.toString(shapes(xs)));
            for (int i = 0; i < s.length; i++) {
                if (i != a && ts[i] != s[i]) throw new TensorException("concat along " + axis + ": shapes " + String.join(", ", shapes(xs)) + " differ off the axis");
            }
            total += ts[a];
        }
        s[a] = total;
        Tensor y = tape.workspace().allocate(s);
        int at = 0;
        int[] starts = new int[xs.length];
        for (int i = 0; i < xs.length; i++) {
            starts[i] = at;
            y.slice(a, at, at + xs[i].dim(a)).copyFrom(xs[i]);
            at += xs[i].dim(a);
        }
        if (tape.needsGrad(xs)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y);
                for (int i = 0; i < xs.length; i++) {
                    if (xs[i].requiresGrad()) accumulate(tape, tape.grad(xs[i]), dy.slice(a, starts[i], starts[i] + xs[i].dim(a)));
                }
            });
        }
        return y;
    }

    private static String[] shapes(Tensor[] xs) {
        String[] out = new String[xs.length];
        for (int i = 0; i < xs.length; i++) out[i] = xs[i].shapeString();
        return out;
    }

    /** y[i] = x[index[i]] over the first axis (gather rows); backward scatter-adds. x: (R, ...) -> (len(index), ...). */
    public static Tensor gatherRows(Tape tape, Tensor x, int[] index) {
        requireContiguous("gatherRows", x);
        int r = x.dim(0);
        long row = x.numel() / Math.max(1, r);
        int[] s = x.shape();
        s[0] = index.length;
        Tensor y = tape.workspace().allocate(s);
        Kernels k = tape.kernels();
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= r) throw new TensorException("gatherRows: index " + index[i] + " out of range for " + x.shapeString());
            k.copy(x.segment(), x.offset() + index[i] * row, y.segment(), y.offset() + i * row, row);
        }
        int[] idx = index.clone();
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                for (int i = 0; i < idx.length; i++) k.axpy(1f, dy.segment(), dy.offset() + i * row, dx.segment(), dx.offset() + idx[i] * row, row);
            });
        }
        return y;
    }

    /** x (1, ...) repeated n times along a new leading batch: (n, ...). The gradient sums over the batch. */
    public static Tensor expand(Tape tape, Tensor x, int n) {
        requireContiguous("expand", x);
        if (x.dim(0) != 1) throw new TensorException("expand: " + x.shapeString() + " must have a leading 1");
        int[] s = x.shape();
        s[0] = n;
        long row = x.numel();
        Tensor y = tape.workspace().allocate(s);
        Kernels k = tape.kernels();
        for (int i = 0; i < n; i++) k.copy(x.segment(), x.offset(), y.segment(), y.offset() + i * row, row);
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                k.sumRows(dy.segment(), dy.offset(), dx.segment(), dx.offset(), n, (int) row);
            });
        }
        return y;
    }

    /**
     * Stochastic depth: each sample of x (B, ...) is kept with probability 1 - p and then scaled by 1 / (1 - p), or
     * zeroed whole. The per-sample draw comes from the seed alone.
     */
    public static Tensor dropPath(Tape tape, Tensor x, float p, long seed) {
        if (p <= 0f || !tape.recording()) return x;
        if (p >= 1f) throw new TensorException("drop-path probability " + p + " must be < 1");
        requireContiguous("dropPath", x);
        int b = x.dim(0);
        long row = x.numel() / b;
        float[] keep = new float[b];
        for (int i = 0; i < b; i++) keep[i] = dev.tessera.engine.kernels.MathRef.uniform(seed, i) >= p ? 1f / (1f - p) : 0f;
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(x.shape());
        for (int i = 0; i < b; i++) k.scale(keep[i], x.segment(), x.offset() + i * row, y.segment(), y.offset() + i * row, row);
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                for (int i = 0; i < b; i++) {
                    if (keep[i] != 0f) k.axpy(keep[i], dy.segment(), dy.offset() + i * row, dx.segment(), dx.offset() + i * row, row);
                }
            });
        }
        return y;
    }

    /** dst += src for any two views of one shape. */
    static void accumulate(Tape tape, Tensor dst, Tensor src) {
        Shapes.requireSame("accumulate", dst.shape(), src.shape());
        if (dst.isContiguous() && src.isContiguous()) {
            tape.kernels().axpy(1f, src.segment(), src.offset(), dst.segment(), dst.offset(), dst.numel());
            return;
        }
        accumulate(tape.kernels(), dst, src, 0, dst.offset(), src.offset());
    }

    private static void accumulate(Kernels k, Tensor d, Tensor s, int axis, long doff, long soff) {
        int n = d.dim(axis);
        if (axis == d.rank() - 1) {
            if (d.stride(axis) == 1 && s.stride(axis) == 1) {
                k.axpy(1f, s.segment(), soff, d.segment(), doff, n);
            } else {
                MemorySegment ds = d.segment(), ss = s.segment();
                for (int i = 0; i < n; i++) {
                    long di = doff + i * d.stride(axis);
                    ds.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, di, ds.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, di)
                            + ss.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, soff + i * s.stride(axis)));
                }
            }
            return;
        }
        for (int i = 0; i < n; i++) accumulate(k, d, s, axis + 1, doff + i * d.stride(axis), soff + i * s.stride(axis));
    }

    // ---------------------------------------------------------------- regularisation

    /** Inverted dropout with probability p; the mask is derived from seed alone (reproducible on every path). */
    public static Tensor dropout(Tape tape, Tensor x, float p, long seed) {
        if (p <= 0f || !tape.recording()) return x;
        if (p >= 1f) throw new TensorException("dropout probability " + p + " must be < 1");
        requireContiguous("dropout", x);
        Kernels k = tape.kernels();
        Tensor y = tape.workspace().allocate(x.shape());
        Tensor mask = tape.workspace().allocate(x.shape());
        k.dropout(x.segment(), x.offset(), mask.segment(), mask.offset(), y.segment(), y.offset(), x.numel(), p, seed);
        if (tape.needsGrad(x)) {
            tape.record(y, () -> {
                Tensor dy = tape.grad(y), dx = tape.grad(x);
                k.mulAcc(dy.segment(), dy.offset(), mask.segment(), mask.offset(), dx.segment(), dx.offset(), x.numel());
            });
        }
        return y;
    }

    // ---------------------------------------------------------------- attention

    /**
     * Multi-head self-attention core from a packed qkv: (B, N, 3*H*d) -> (B, N, H*d), fused (no N x N for the batch).
     * scale: (H), a parameter when learnable (LSA's temperature), else a constant tensor. mask: additive (N, N) or null.
     */
    public static Tensor attention(Tape tape, Tensor qkv, int heads, Tensor scale, Tensor mask) {
        return attention(tape, qkv, heads, scale, mask, 0f, 0L);
    }

    /**
     * As above, with dropout of rate {@code dropout} on the attention probabilities while the tape records (seeded by
     * {@code seed}; inference and no-grad tapes never drop).
     */
    public static Tensor attention(Tape tape, Tensor qkv, int heads, Tensor scale, Tensor mask, float dropout, long seed) {
        requireContiguous("attention", qkv, scale, mask);
        if (qkv.rank() != 3 || qkv.dim(2) % (3 * heads) != 0) {
            throw new TensorException("attention: qkv " + qkv.shapeString() + " is not (B, N, 3*H*d) with H=" + heads);
        }
        int b = qkv.dim(0), n = qkv.dim(1), d = qkv.dim(2) / (3 * heads), dim = heads * d;
        if (scale.numel() != heads) throw new TensorException("attention: scale " + scale.shapeString() + " for " + heads + " heads");
        if (mask != null && (mask.numel() != (long) n * n)) throw new TensorException("attention: mask " + mask.shapeString() + " for N=" + n);
        AttentionShape s = AttentionShape.packedQkv(b, n, heads, d);
        AttentionDropout drop = tape.recording() && dropout > 0 ? new AttentionDropout(dropout, seed) : AttentionDropout.NONE;
        Kernels k = tape.kernels();
        Tensor o = tape.workspace().allocate(b, n, dim);
        Tensor lse = tape.workspace().allocate(b, heads, n);
        float[] sc = scale.toArray();
        MemorySegment q = qkv.segment();
        long base = qkv.offset();
        k.attention(s, q, base, q, base + dim, q, base + 2L * dim, sc, mask == null ? null : mask.segment(), mask == null ? 0 : mask.offset(),
                drop, o.segment(), o.offset(), lse.segment(), lse.offset());
        if (tape.needsGrad(qkv, scale)) {
            tape.record(o, () -> {
                // The first gradient qkv receives is this one (it feeds nothing else in a ViT): written, not added.
                boolean fresh = qkv.grad() == null;
                Tensor dO = tape.grad(o), dqkv = tape.gradToWrite(qkv);
                double[] ds = scale.requiresGrad() ? new double[heads] : null;
                k.attentionBackward(s, q, base, q, base + dim, q, base + 2L * dim, sc, mask == null ? null : mask.segment(), mask == null ? 0 : mask.offset(),
                        drop, o.segment(), o.offset(), dO.segment(), dO.offset(), lse.segment(), lse.offset(),
                        dqkv.segment(), dqkv.offset(), dqkv.segment(), dqkv.offset() + dim, dqkv.segment(), dqkv.offset() + 2L * dim, ds, !fresh);
                if (ds != null) {
                    Tensor g = tape.grad(scale);
                    for (int h = 0; h < heads; h++) g.setFlat(h, g.getFlat(h) + (float) ds[h]);
                }
            });
        }
        return o;
    }

    /** Mean absolute error between pred and a constant target of the same shape: a scalar (1). */
    public static Tensor l1Loss(Tape tape, Tensor pred, float[] target) {
        requireContiguous("l1Loss", pred);
        if (target.length != pred.numel()) throw new TensorException("l1Loss: " + target.length + " targets for pred " + pred.shapeString());
        float[] p = pred.toArray();
        double s = 0;
        for (int i = 0; i < p.length; i++) s += Math.abs(p[i] - target[i]);
        Tensor y = tape.workspace().allocate(1);
        y.setFlat(0, (float) (s / p.length));
        if (tape.needsGrad(pred)) {
            float[] t = target.clone();
            tape.record(y, () -> {
                float g = tape.grad(y).getFlat(0) / p.length;
                Tensor dp = tape.grad(pred);
                for (int i = 0; i < p.length; i++) {
                    float d = p[i] - t[i];
                    if (d != 0) dp.setFlat(i, dp.getFlat(i) + (d > 0 ? g : -g));
                }
            });
        }
        return y;
    }

    // ---------------------------------------------------------------- loss

    /**
     * Mean cross-entropy of logits (R, C) against hard labels (R) or soft targets (R, C) (one of them null), with label
     * smoothing. Returns a scalar tensor of shape (1).
     */
    public static Tensor crossEntropy(Tape tape, Tensor logits, int[] labels, Tensor soft, float smoothing) {
        requireContiguous("crossEntropy", logits, soft);
        if (logits.rank() != 2) throw new TensorException("crossEntropy: logits " + logits.shapeString() + " must be (rows, classes)");
        int r = logits.dim(0), c = logits.dim(1);
        if (soft == null && (labels == null || labels.length != r)) {
            throw new TensorException("crossEntropy: " + (labels == null ? "no labels" : labels.length + " labels") + " for logits " + logits.shapeString());
        }
        if (soft != null) Shapes.requireSame("crossEntropy soft targets", logits.shape(), soft.shape());
        if (labels != null && soft == null) {
            for (int i = 0; i < r; i++) {
                if (labels[i] < 0 || labels[i] >= c) throw new TensorException("crossEntropy: label " + labels[i] + " of row " + i + " outside [0, " + c + ")");
            }
        }
        Kernels k = tape.kernels();
        Tensor probs = tape.workspace().allocate(r, c);
        Tensor loss = tape.workspace().allocate(1);
        MemorySegment ss = soft == null ? null : soft.segment();
        long so = soft == null ? 0 : soft.offset();
        double l = k.crossEntropy(logits.segment(), logits.offset(), labels, ss, so, smoothing, probs.segment(), probs.offset(), null, 0, r, c);
        loss.setFlat(0, (float) l);
        int[] lab = labels == null ? null : labels.clone();
        if (tape.needsGrad(logits)) {
            tape.record(loss, () -> {
                float dl = tape.grad(loss).getFlat(0);
                Tensor dlogits = tape.grad(logits);
                k.crossEntropyBackward(probs.segment(), probs.offset(), lab, ss, so, smoothing, dl / r, dlogits.segment(), dlogits.offset(), r, c);
            });
        }
        return loss;
    }
}
