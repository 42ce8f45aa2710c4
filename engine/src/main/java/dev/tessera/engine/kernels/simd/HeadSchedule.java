package dev.tessera.engine.kernels.simd;

import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.CacheLines;
import dev.tessera.engine.kernels.CpuInfo;
import dev.tessera.engine.kernels.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * The order in which attention's (batch item, head) tasks run, and what is read before them. A head reads d floats of
 * each of the item's N rows, rows sN apart: in a D = 192 model's packed QKV, 256-byte pieces 2304 bytes apart, a
 * pattern the hardware prefetchers do not follow. A training batch's QKV (14.7 MB at batch 128) is far larger than
 * L2, so each head waited for its pieces one miss at a time: the transposes and packings that read them took 45% of
 * a forward pass at N = 50 (JFR; Zen 3), the products 25%; reading the same 14.7 MB head by head in this pattern took
 * 4.3-9.6 ms, front to back 1.4-1.8 ms.
 *
 * <p>So when there are items enough for the pool and the rows of one item fit in half of L2, a task is one batch item:
 * its rows are first read front to back, one int per cache line (the prefetchers then stream them at memory
 * bandwidth), and its heads, run one after the other on that core, find them in L2: at batch 128, N = 50, 3 heads of
 * 64, two threads, the forward pass went from 11.6 to 7.8 ms, the backward from 25.1 to 20.7 (best of 12, one JVM).
 * Otherwise a task is one head, as before: ViT-B/16's items (1.8 MB of QKV) streamed the same way gained nothing
 * forward and lost 9% backward. {@code -Dtessera.attention.streamItems=false} keeps one head per task everywhere.
 */
final class HeadSchedule {
    private static final boolean ENABLED = !"false".equals(System.getProperty("tessera.attention.streamItems"));

    @FunctionalInterface
    interface HeadTask {
        void run(int b, int h);
    }

    /** The floats of one item's rows of a tensor: from off + b * itemStride, floats long. */
    private record Span(MemorySegment seg, long off, long itemStride, long floats) {}

    private final AttentionShape s;
    private final Span[] spans = new Span[8];
    private int count;

    private HeadSchedule(AttentionShape s) {
        this.s = s;
    }

    static HeadSchedule of(AttentionShape s) {
        return new HeadSchedule(s);
    }

    /** Tensors read or written with Q's layout (Q, K and V, or their gradients): one span where they share a segment. */
    HeadSchedule qkv(MemorySegment q, long qOff, MemorySegment k, long kOff, MemorySegment v, long vOff) {
        long floats = (long) (s.tokens() - 1) * s.sN() + (long) (s.heads() - 1) * s.sH() + s.headDim();
        if (q == k && k == v) {
            long lo = Math.min(qOff, Math.min(kOff, vOff)), hi = Math.max(qOff, Math.max(kOff, vOff));
            return add(q, lo, s.sB(), floats + hi - lo);
        }
        return add(q, qOff, s.sB(), floats).add(k, kOff, s.sB(), floats).add(v, vOff, s.sB(), floats);
    }

    /** A tensor with O's layout (O or dO). */
    HeadSchedule out(MemorySegment o, long oOff) {
        return add(o, oOff, s.oB(), (long) (s.tokens() - 1) * s.oN() + (long) (s.heads() - 1) * s.oH() + s.headDim());
    }

    private HeadSchedule add(MemorySegment seg, long off, long itemStride, long floats) {
        if (count == spans.length) return this;  // not streamed, only read later in place
        spans[count++] = new Span(seg, off, itemStride, floats);
        return this;
    }

    /** Whether tasks are whole batch items: items enough for the pool, and one item's rows in half of L2. */
    boolean byItem() {
        if (!ENABLED || s.batch() < 4 * Parallel.threads()) return false;
        long bytes = 0;
        for (int i = 0; i < count; i++) bytes += spans[i].floats() * 4;
        return bytes <= CpuInfo.get().l2Bytes() / 2;
    }

    /** task(b, h) for every head of every item, spread over the pool; touched as for {@link Parallel#forEach}. */
    void forEachHead(HeadTask task, MemorySegment... touched) {
        int heads = s.heads();
        if (byItem()) {
            Parallel.forEach(s.batch(), b -> {
                stream(b);
                for (int h = 0; h < heads; h++) task.run(b, h);
            }, touched);
        } else {
            Parallel.forEach(s.batch() * heads, bh -> task.run(bh / heads, bh % heads), touched);
        }
    }

    /** Reads item b's rows front to back, one int per cache line. */
    private void stream(int b) {
        for (int i = 0; i < count; i++) {
            Span sp = spans[i];
            long start = (sp.off() + b * sp.itemStride()) * 4;
            CacheLines.read(sp.seg(), start, start + sp.floats() * 4);
        }
    }
}
