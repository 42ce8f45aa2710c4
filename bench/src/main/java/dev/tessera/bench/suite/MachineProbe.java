package dev.tessera.bench.suite;

import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The roofs of the roofline, measured: peak FMA throughput from independent in-register FMA chains (enough of them to
 * cover the FMA latency on every core), and memory bandwidth from a copy over buffers far larger than the last-level
 * cache. Both run on 1..N plain threads at once; the best of a few repetitions counts.
 */
public final class MachineProbe {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private MachineProbe() {}

    /** GFLOPS of {@code threads} threads each running the FMA loop (2 flops per lane per FMA). */
    public static double fmaPeak(int threads, double seconds) {
        int iters = 2_000_000;
        // Compile it (C2, not an on-stack-replaced C1 loop that boxes every vector) before timing anything.
        float sink = 0;
        for (int i = 0; i < 3000; i++) sink += fmaLoop(2_000);
        if (sink == 42) System.out.print("");
        double best = 0;
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        do {
            double s = onThreads(threads, () -> fmaLoop(iters));
            best = Math.max(best, threads * (double) iters * 12.0 * S.length() * 2 / s / 1e9);
        } while (System.nanoTime() < deadline);
        return best;
    }

    /** 12 independent accumulators: FMA latency 4 x 2 ports needs at least 8 in flight. The sum keeps them live. */
    static float fmaLoop(int iters) {
        FloatVector a = FloatVector.broadcast(S, 0.999999f), b = FloatVector.broadcast(S, 1e-7f);
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < iters; i++) {
            c0 = c0.fma(a, b); c1 = c1.fma(a, b); c2 = c2.fma(a, b); c3 = c3.fma(a, b);
            c4 = c4.fma(a, b); c5 = c5.fma(a, b); c6 = c6.fma(a, b); c7 = c7.fma(a, b);
            c8 = c8.fma(a, b); c9 = c9.fma(a, b); c10 = c10.fma(a, b); c11 = c11.fma(a, b);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    /** GB/s (bytes read + written) of {@code threads} threads copying disjoint parts of two 256 MiB buffers. */
    public static double copyBandwidth(int threads, double seconds) {
        long bytes = 256L << 20;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = OffHeap.allocateFloats(arena, bytes / 4), dst = OffHeap.allocateFloats(arena, bytes / 4);
            long part = bytes / threads / 64 * 64;
            double best = 0;
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            do {
                double s = onThreads(threads, t -> MemorySegment.copy(src, t * part, dst, t * part, part));
                best = Math.max(best, 2.0 * part * threads / s / 1e9);
            } while (System.nanoTime() < deadline);
            return best;
        }
    }

    private static double onThreads(int threads, Runnable body) {
        return onThreads(threads, t -> body.run());
    }

    private static double onThreads(int threads, java.util.function.IntConsumer body) {
        CountDownLatch start = new CountDownLatch(1), done = new CountDownLatch(threads);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                try {
                    start.await();
                    body.accept(id);
                } catch (Throwable e) {
                    failure.set(e);
                } finally {
                    done.countDown();
                }
            }, "probe-" + t);
            th.setDaemon(true);
            th.start();
        }
        long t0 = System.nanoTime();
        start.countDown();
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        if (failure.get() != null) throw new IllegalStateException("probe failed", failure.get());
        return (System.nanoTime() - t0) / 1e9;
    }
}
