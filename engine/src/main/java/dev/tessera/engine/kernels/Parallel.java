package dev.tessera.engine.kernels;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The kernels' own thread pool: {@code threads - 1} daemon workers plus the calling thread. Its size defaults to the
 * number of cores, and is set by {@code -Dtessera.threads=N} or {@link #setThreads}. A kernel called from inside a
 * parallel region runs sequentially: parallelism is taken once, at the outermost level.
 */
public final class Parallel {
    private static volatile int threads = Math.max(1, Integer.getInteger("tessera.threads", Runtime.getRuntime().availableProcessors()));
    private static ExecutorService pool;
    private static int poolSize;
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private Parallel() {}

    public static int threads() { return threads; }

    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        threads = n;
    }

    private static volatile Thread probe;

    /**
     * Whether the pool's workers may touch all these segments. Memory from a confined arena may only be touched by its
     * owner, so kernels given such memory run on the calling thread rather than fail.
     */
    public static boolean shareable(java.lang.foreign.MemorySegment... segments) {
        Thread t = probe;
        if (t == null) {
            t = new Thread(() -> { }, "tessera-probe");
            probe = t;
        }
        for (java.lang.foreign.MemorySegment s : segments) if (s != null && !s.isAccessibleBy(t)) return false;
        return true;
    }

    private static synchronized ExecutorService pool(int workers) {
        if (pool == null || poolSize < workers) {
            if (pool != null) pool.shutdown();
            AtomicInteger id = new AtomicInteger();
            pool = Executors.newFixedThreadPool(workers, r -> {
                Thread t = new Thread(r, "tessera-kernel-" + id.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
            poolSize = workers;
        }
        return pool;
    }

    /** As {@link #forEach(int, IntConsumer)}, on the calling thread alone when a touched segment is thread-confined. */
    public static void forEach(int tasks, IntConsumer body, java.lang.foreign.MemorySegment... touched) {
        if (shareable(touched)) forEach(tasks, body);
        else for (int i = 0; i < tasks; i++) body.accept(i);
    }

    /** Runs body(0 .. tasks-1), spread over the pool; returns when all are done; rethrows the first failure. */
    public static void forEach(int tasks, IntConsumer body) {
        int t = Math.min(threads, tasks);
        if (t <= 1 || INSIDE.get()) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        Job job = new Job(tasks, body, Thread.currentThread(), t);
        ExecutorService p = pool(t - 1);
        for (int w = 0; w < t - 1; w++) p.execute(job);
        job.run();
        job.await();
    }

    private static final class Job implements Runnable {
        final int tasks;
        final IntConsumer body;
        final Thread owner;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger running;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(int tasks, IntConsumer body, Thread owner, int participants) {
            this.tasks = tasks;
            this.body = body;
            this.owner = owner;
            this.running = new AtomicInteger(participants);
        }

        @Override
        public void run() {
            boolean was = INSIDE.get();
            INSIDE.set(Boolean.TRUE);
            try {
                for (int i; (i = next.getAndIncrement()) < tasks; ) {
                    if (failure.get() != null) break;
                    body.accept(i);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                INSIDE.set(was);
                if (running.decrementAndGet() == 0) LockSupport.unpark(owner);
            }
        }

        void await() {
            int spins = 0;
            while (running.get() != 0) {
                if (++spins < 2000) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 20_000);
            }
            Throwable e = failure.get();
            if (e instanceof RuntimeException re) throw re;
            if (e instanceof Error er) throw er;
            if (e != null) throw new RuntimeException(e);
        }
    }
}
