package dev.tessera.engine.kernels;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The kernels' own thread pool: {@code threads - 1} daemon workers plus the calling thread. Its size defaults to the
 * number of cores, and is set by {@code -Dtessera.threads=N} or {@link #setThreads}. A kernel called from inside a
 * parallel region runs sequentially: parallelism is taken once, at the outermost level.
 *
 * <p>Workers spin for a short while after each job before they park (what OpenMP runtimes call an active wait
 * policy): a training step issues hundreds of sub-millisecond kernels back to back, and waking a parked thread costs
 * tens of microseconds each time.
 */
public final class Parallel {
    private static final long SPIN_NANOS = Long.getLong("tessera.spinMicros", 200) * 1000;
    private static volatile int threads = Math.max(1, Integer.getInteger("tessera.threads", Runtime.getRuntime().availableProcessors()));
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> Boolean.FALSE);
    /** The calling thread's cap on the pool size, set by {@link #withThreads} (MAX_VALUE: none). */
    private static final ThreadLocal<Integer> CAP = ThreadLocal.withInitial(() -> Integer.MAX_VALUE);
    private static Worker[] workers = new Worker[0];
    private static volatile Thread probe;

    private Parallel() {}

    /** The pool size kernels called from this thread use: {@code -Dtessera.threads}, or less inside {@link #withThreads}. */
    public static int threads() { return Math.min(threads, CAP.get()); }

    /**
     * Runs work with at most n kernel threads for the kernels this thread calls (the pool itself is unchanged; other
     * threads are not affected), then restores the cap it had.
     */
    public static <T> T withThreads(int n, java.util.function.Supplier<T> work) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        Integer before = CAP.get();
        CAP.set(Math.min(before, n));
        try {
            return work.get();
        } finally {
            CAP.set(before);
        }
    }

    /** True on a pool worker or a caller inside {@link #forEach}: nested kernels then run sequentially. */
    public static boolean inParallelRegion() { return INSIDE.get(); }

    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        threads = n;
    }

    /**
     * Whether the pool's workers may touch all these segments. Memory from a confined arena may only be touched by its
     * owner, so kernels given such memory run on the calling thread rather than fail.
     */
    public static boolean shareable(MemorySegment... segments) {
        Thread t = probe;
        if (t == null) {
            t = new Thread(() -> { }, "tessera-probe");
            probe = t;
        }
        for (MemorySegment s : segments) if (s != null && !s.isAccessibleBy(t)) return false;
        return true;
    }

    /** As {@link #forEach(int, IntConsumer)}, on the calling thread alone when a touched segment is thread-confined. */
    public static void forEach(int tasks, IntConsumer body, MemorySegment... touched) {
        if (shareable(touched)) forEach(tasks, body);
        else for (int i = 0; i < tasks; i++) body.accept(i);
    }

    /** Runs body(0 .. tasks-1), spread over the pool; returns when all are done; rethrows the first failure. */
    public static void forEach(int tasks, IntConsumer body) {
        int t = Math.min(threads(), tasks);
        if (t <= 1 || INSIDE.get()) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        Job job = new Job(tasks, body, t);
        Worker[] ws = workers(t - 1);
        for (int w = 0; w < t - 1; w++) ws[w].submit(job);
        INSIDE.set(Boolean.TRUE);
        try {
            job.work();
        } finally {
            INSIDE.set(Boolean.FALSE);
        }
        job.await();
    }

    /** Serialises concurrent callers: the workers serve one parallel region at a time. */
    private static synchronized Worker[] workers(int n) {
        if (workers.length < n) {
            Worker[] grown = java.util.Arrays.copyOf(workers, n);
            for (int i = workers.length; i < n; i++) {
                grown[i] = new Worker("tessera-kernel-" + (i + 1));
                grown[i].start();
            }
            workers = grown;
        }
        return workers;
    }

    private static final class Job {
        final int tasks;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger running;
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile Thread waiter;

        Job(int tasks, IntConsumer body, int participants) {
            this.tasks = tasks;
            this.body = body;
            this.running = new AtomicInteger(participants);
            this.waiter = Thread.currentThread();
        }

        void work() {
            try {
                for (int i; (i = next.getAndIncrement()) < tasks; ) {
                    if (failure.get() != null) break;
                    body.accept(i);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                if (running.decrementAndGet() == 0) LockSupport.unpark(waiter);
            }
        }

        void await() {
            long start = System.nanoTime();
            while (running.get() != 0) {
                if (System.nanoTime() - start < SPIN_NANOS) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 50_000);
            }
            Throwable e = failure.get();
            if (e instanceof RuntimeException re) throw re;
            if (e instanceof Error er) throw er;
            if (e != null) throw new RuntimeException(e);
        }
    }

    private static final class Worker extends Thread {
        private final AtomicReference<Job> inbox = new AtomicReference<>();

        Worker(String name) {
            super(name);
            setDaemon(true);
        }

        void submit(Job job) {
            // Callers are serialised per region, so the inbox is empty here unless a worker is still finishing.
            while (!inbox.compareAndSet(null, job)) Thread.onSpinWait();
            LockSupport.unpark(this);
        }

        @Override
        public void run() {
            INSIDE.set(Boolean.TRUE);
            while (true) {
                Job job = inbox.get();
                if (job == null) {
                    long start = System.nanoTime();
                    while ((job = inbox.get()) == null && System.nanoTime() - start < SPIN_NANOS) Thread.onSpinWait();
                    if (job == null) {
                        LockSupport.park(this);
                        continue;
                    }
                }
                inbox.set(null);
                job.work();
            }
        }
    }
}
