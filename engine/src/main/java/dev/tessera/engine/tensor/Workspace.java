package dev.tessera.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A bump allocator for one step's temporaries. The first step grows it chunk by chunk; {@link #reset()} rewinds it, and
 * since a step makes the same requests in the same order every time, later steps fit in the chunks the first one made:
 * no new off-heap memory in the steady state. Not thread-safe: one workspace per thread.
 */
public final class Workspace implements AutoCloseable {
    private static final long MIN_CHUNK_FLOATS = 1 << 20;
    private static final long ALIGN_FLOATS = OffHeap.ALIGNMENT / Float.BYTES;

    private final Arena arena = Arena.ofShared();
    private final List<MemorySegment> chunks = new ArrayList<>();
    private int chunk;
    private long pos;
    private long used;
    private long highWater;
    private long generation;
    private boolean closed;
    /** Workspaces of the other workers of a data-parallel step, made on first use, closed with this one. */
    private final List<Workspace> workers = new ArrayList<>();

    /** A contiguous tensor of {@code shape}; its content is whatever the previous step left (see {@link #zeros}). */
    public Tensor allocate(int... shape) {
        int[] s = shape.clone();
        long n = Shapes.numel(s);
        MemorySegment seg = take(n);
        return new Tensor(seg, 0, s, Shapes.contiguousStrides(s));
    }

    public Tensor zeros(int... shape) {
        Tensor t = allocate(shape);
        t.segment().fill((byte) 0);
        return t;
    }

    /** Raw scratch memory of {@code floats} floats. */
    public MemorySegment scratch(long floats) {
        return take(floats);
    }

    private MemorySegment take(long n) {
        if (closed) throw new TensorException("workspace used after close");
        long rounded = (Math.max(n, 1) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        while (true) {
            if (chunk < chunks.size()) {
                MemorySegment c = chunks.get(chunk);
                long cap = c.byteSize() / Float.BYTES;
                if (pos + rounded <= cap) {
                    MemorySegment s = c.asSlice(pos * Float.BYTES, n * Float.BYTES);
                    pos += rounded;
                    used += rounded;
                    highWater = Math.max(highWater, used);
                    return s;
                }
                if (pos == 0 && rounded > cap) {
                    // A chunk too small for this request even when empty: replace it by a larger one.
                    chunks.set(chunk, OffHeap.allocateFloats(arena, Math.max(rounded, 2 * cap)));
                    continue;
                }
                chunk++;
                pos = 0;
            } else {
                long last = chunks.isEmpty() ? MIN_CHUNK_FLOATS : chunks.getLast().byteSize() / Float.BYTES;
                chunks.add(OffHeap.allocateFloats(arena, Math.max(rounded, Math.max(MIN_CHUNK_FLOATS, last))));
            }
        }
    }

    /** A position in the workspace to come back to with {@link #release}. */
    public record Mark(int chunk, long pos, long used, long generation) {}

    public Mark mark() {
        return new Mark(chunk, pos, used, generation);
    }

    /**
     * Gives back everything taken since {@code m}: an inference pass releases each block's temporaries once the block's
     * output is saved, so its memory is one block deep instead of the whole network.
     */
    public void release(Mark m) {
        if (m.generation() != generation) throw new TensorException("workspace mark from before a reset");
        chunk = m.chunk();
        pos = m.pos();
        used = m.used();
    }

    /**
     * The workspace of worker {@code w} of a step that runs on several threads at once, each on its own part of the
     * batch: this one for worker 0, otherwise one made on first use and closed with this one. Like any workspace it
     * must be used by one thread at a time; call this before handing it to the worker.
     */
    public Workspace forWorker(int w) {
        if (closed) throw new TensorException("workspace used after close");
        if (w < 0) throw new IllegalArgumentException("worker " + w);
        if (w == 0) return this;
        while (workers.size() < w) workers.add(new Workspace());
        return workers.get(w - 1);
    }

    /** Rewinds: every tensor handed out since the last reset may now be overwritten. */
    public void reset() {
        chunk = 0;
        pos = 0;
        used = 0;
        generation++;
    }

    public long generation() { return generation; }

    /** Bytes reserved from the OS by this workspace. */
    public long capacityBytes() {
        long b = 0;
        for (Workspace w : workers) b += w.capacityBytes();
        for (MemorySegment c : chunks) b += c.byteSize();
        return b;
    }

    /** Most bytes in use at once since creation. */
    public long highWaterBytes() { return highWater * Float.BYTES; }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            for (Workspace w : workers) w.close();
            arena.close();
        }
    }
}
