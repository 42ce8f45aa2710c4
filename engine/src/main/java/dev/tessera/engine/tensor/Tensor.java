package dev.tessera.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * An FP32 tensor: a view (offset, shape, strides, all in floats) over an off-heap {@link MemorySegment}. Views share
 * memory; only {@link #contiguous} and {@link #copyFrom} copy. Lifetimes belong to the {@link Arena} or
 * {@link Workspace} that made the memory: a tensor used after its memory was released throws, naming its shape.
 *
 * <p>A tensor also carries what reverse-mode autograd needs: {@code requiresGrad} and the accumulated {@code grad}.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final MemorySegment segment;
    private final long offset;
    private final int[] shape;
    private final long[] strides;

    private boolean requiresGrad;
    private Tensor grad;
    private String name;

    public Tensor(MemorySegment segment, long offset, int[] shape, long[] strides) {
        this.segment = segment;
        this.offset = offset;
        this.shape = shape;
        this.strides = strides;
        if (shape.length != strides.length) throw new TensorException("shape " + Shapes.str(shape) + " with " + strides.length + " strides");
        long last = offset;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 0) { last = -1; break; }
            last += (shape[i] - 1) * strides[i];
        }
        if (offset < 0 || (last >= 0 && (last + 1) * Float.BYTES > segment.byteSize())) {
            throw new TensorException("view " + Shapes.str(shape) + " at offset " + offset + " runs past its memory of "
                    + segment.byteSize() / Float.BYTES + " floats");
        }
    }

    /** A new zero-filled contiguous tensor owned by {@code arena}. */
    public static Tensor zeros(Arena arena, int... shape) {
        int[] s = shape.clone();
        return new Tensor(OffHeap.allocateFloats(arena, Shapes.numel(s)), 0, s, Shapes.contiguousStrides(s));
    }

    public static Tensor of(Arena arena, float[] values, int... shape) {
        Tensor t = zeros(arena, shape);
        if (values.length != t.numel()) {
            throw new TensorException("values of length " + values.length + " for shape " + Shapes.str(shape));
        }
        t.copyFrom(values);
        return t;
    }

    // ---- geometry ----

    public MemorySegment segment() {
        checkAlive();
        return segment;
    }

    public long offset() { return offset; }
    public int[] shape() { return shape.clone(); }
    public long[] strides() { return strides.clone(); }
    public int rank() { return shape.length; }
    public long numel() { return Shapes.numel(shape); }

    public int dim(int i) {
        return shape[axis(i)];
    }

    public long stride(int i) {
        return strides[axis(i)];
    }

    private int axis(int i) {
        int a = i < 0 ? i + shape.length : i;
        if (a < 0 || a >= shape.length) throw new TensorException("axis " + i + " out of range for " + Shapes.str(shape));
        return a;
    }

    public boolean isContiguous() {
        long expect = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expect) return false;
            expect *= shape[i];
        }
        return true;
    }

    public String shapeString() { return Shapes.str(shape); }

    @Override
    public String toString() {
        return "Tensor" + (name == null ? "" : "[" + name + "]") + Shapes.str(shape);
    }

    public boolean isAlive() { return segment.scope().isAlive(); }

    public void checkAlive() {
        if (!segment.scope().isAlive()) {
            throw new TensorException("tensor " + (name == null ? "" : name + " ") + Shapes.str(shape)
                    + " used after its memory was released (arena closed or workspace reset)");
        }
    }

    // ---- views, no copies ----

    public Tensor reshape(int... newShape) {
        int[] to = Shapes.resolve(shape, newShape);
        if (!isContiguous()) {
            throw new TensorException("reshape " + Shapes.str(shape) + " -> " + Shapes.str(to) + " needs a contiguous tensor; call contiguous() first");
        }
        return new Tensor(segment, offset, to, Shapes.contiguousStrides(to));
    }

    public Tensor transpose(int a, int b) {
        int[] perm = new int[shape.length];
        for (int i = 0; i < perm.length; i++) perm[i] = i;
        int x = axis(a), y = axis(b);
        perm[x] = y;
        perm[y] = x;
        return permute(perm);
    }

    public Tensor permute(int... perm) {
        if (perm.length != shape.length) throw new TensorException("permute " + Arrays.toString(perm) + " of " + Shapes.str(shape));
        boolean[] seen = new boolean[perm.length];
        int[] s = new int[perm.length];
        long[] st = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            int p = axis(perm[i]);
            if (seen[p]) throw new TensorException("permute " + Arrays.toString(perm) + " of " + Shapes.str(shape) + " repeats axis " + p);
            seen[p] = true;
            s[i] = shape[p];
            st[i] = strides[p];
        }
        return new Tensor(segment, offset, s, st);
    }

    /** Elements [start, end) along {@code axis}. */
    public Tensor slice(int axis, int start, int end) {
        int a = axis(axis);
        if (start < 0 || end > shape[a] || start > end) {
            throw new TensorException("slice [" + start + ", " + end + ") of axis " + axis + " out of range for " + Shapes.str(shape));
        }
        int[] s = shape.clone();
        s[a] = end - start;
        return new Tensor(segment, offset + start * strides[a], s, strides.clone());
    }

    /** Chunks of {@code size} along {@code axis} (the last may be shorter). */
    public Tensor[] split(int axis, int size) {
        int a = axis(axis);
        if (size <= 0) throw new TensorException("split of " + Shapes.str(shape) + " into chunks of " + size);
        int n = (shape[a] + size - 1) / size;
        Tensor[] out = new Tensor[n];
        for (int i = 0; i < n; i++) out[i] = slice(a, i * size, Math.min(shape[a], (i + 1) * size));
        return out;
    }

    /** Drops axis {@code axis} at index {@code index}. */
    public Tensor select(int axis, int index) {
        int a = axis(axis);
        if (index < 0 || index >= shape[a]) throw new TensorException("index " + index + " out of range for axis " + axis + " of " + Shapes.str(shape));
        int[] s = new int[shape.length - 1];
        long[] st = new long[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i == a) continue;
            s[j] = shape[i];
            st[j++] = strides[i];
        }
        return new Tensor(segment, offset + index * strides[a], s, st);
    }

    // ---- element access (slow path: tests, I/O, small bookkeeping) ----

    public long index(int... idx) {
        if (idx.length != shape.length) throw new TensorException("index of rank " + idx.length + " into " + Shapes.str(shape));
        long off = offset;
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= shape[i]) {
                throw new TensorException("index " + Arrays.toString(idx) + " out of range for " + Shapes.str(shape));
            }
            off += idx[i] * strides[i];
        }
        return off;
    }

    public float get(int... idx) {
        checkAlive();
        return segment.getAtIndex(F, index(idx));
    }

    public void set(float v, int... idx) {
        checkAlive();
        segment.setAtIndex(F, index(idx), v);
    }

    /** Flat element i of the logical (row-major) order. */
    public float getFlat(long i) {
        return segment.getAtIndex(F, flatOffset(i));
    }

    public void setFlat(long i, float v) {
        segment.setAtIndex(F, flatOffset(i), v);
    }

    private long flatOffset(long i) {
        if (i < 0 || i >= numel()) throw new TensorException("flat index " + i + " out of range for " + Shapes.str(shape));
        long off = offset;
        for (int d = shape.length - 1; d >= 0; d--) {
            off += (i % shape[d]) * strides[d];
            i /= shape[d];
        }
        return off;
    }

    public float[] toArray() {
        checkAlive();
        float[] out = new float[Math.toIntExact(numel())];
        if (isContiguous()) {
            MemorySegment.copy(segment, F, offset * Float.BYTES, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = getFlat(i);
        }
        return out;
    }

    public Tensor copyFrom(float[] values) {
        checkAlive();
        if (values.length != numel()) throw new TensorException("copy of " + values.length + " floats into " + Shapes.str(shape));
        if (isContiguous()) {
            MemorySegment.copy(values, 0, segment, F, offset * Float.BYTES, values.length);
        } else {
            for (int i = 0; i < values.length; i++) setFlat(i, values[i]);
        }
        return this;
    }

    /** Copies {@code src} (same shape, any strides) into this view. */
    public Tensor copyFrom(Tensor src) {
        checkAlive();
        src.checkAlive();
        Shapes.requireSame("copy", shape, src.shape);
        if (isContiguous() && src.isContiguous()) {
            MemorySegment.copy(src.segment, src.offset * Float.BYTES, segment, offset * Float.BYTES, numel() * Float.BYTES);
            return this;
        }
        stridedCopy(src, this, 0, src.offset, offset);
        return this;
    }

    private static void stridedCopy(Tensor s, Tensor d, int axis, long so, long doff) {
        int n = d.shape[axis];
        if (axis == d.shape.length - 1) {
            long ss = s.strides[axis], ds = d.strides[axis];
            if (ss == 1 && ds == 1) {
                MemorySegment.copy(s.segment, so * Float.BYTES, d.segment, doff * Float.BYTES, (long) n * Float.BYTES);
            } else {
                for (int i = 0; i < n; i++) d.segment.setAtIndex(F, doff + i * ds, s.segment.getAtIndex(F, so + i * ss));
            }
            return;
        }
        for (int i = 0; i < n; i++) stridedCopy(s, d, axis + 1, so + i * s.strides[axis], doff + i * d.strides[axis]);
    }

    public Tensor fill(float v) {
        checkAlive();
        if (isContiguous()) {
            long n = numel();
            if (v == 0f) segment.asSlice(offset * Float.BYTES, n * Float.BYTES).fill((byte) 0);
            else for (long i = 0; i < n; i++) segment.setAtIndex(F, offset + i, v);
        } else {
            for (long i = 0, n = numel(); i < n; i++) setFlat(i, v);
        }
        return this;
    }

    /** A contiguous copy in {@code ws}, or this tensor when it already is contiguous. */
    public Tensor contiguous(Workspace ws) {
        if (isContiguous()) return this;
        return ws.allocate(shape).copyFrom(this);
    }

    // ---- autograd ----

    public boolean requiresGrad() { return requiresGrad; }

    public Tensor requiresGrad(boolean v) {
        this.requiresGrad = v;
        return this;
    }

    public Tensor grad() { return grad; }

    public void setGrad(Tensor g) {
        if (g != null) Shapes.requireSame("grad of " + this, shape, g.shape);
        this.grad = g;
    }

    public String name() { return name; }

    public Tensor named(String n) {
        this.name = n;
        return this;
    }
}
