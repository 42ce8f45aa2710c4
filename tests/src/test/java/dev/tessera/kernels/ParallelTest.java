package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.kernels.Parallel;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The kernel pool's per-thread cap (Parallel.withThreads), which a JVM's first inference forward runs under. */
@Tag("kernels")
class ParallelTest {

    /** Which threads ran the tasks of one forEach whose tasks wait for each other (so one thread alone cannot finish early). */
    private static Set<String> runners(int tasks) {
        Set<String> names = ConcurrentHashMap.newKeySet();
        Parallel.forEach(tasks, i -> {
            names.add(Thread.currentThread().getName());
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        return names;
    }

    @Test
    void capOfOneRunsOnTheCallerAndIsRestored() throws Exception {
        int before = Parallel.threads();
        Parallel.setThreads(2);
        try {
            String caller = Thread.currentThread().getName();
            Set<String> capped = Parallel.withThreads(1, () -> {
                assertEquals(1, Parallel.threads());
                // Nested caps take the smaller one and restore the outer one.
                assertEquals(1, (int) Parallel.withThreads(4, Parallel::threads));
                assertEquals(1, Parallel.threads());
                return runners(8);
            });
            assertEquals(Set.of(caller), capped, "tasks under a cap of 1 ran on " + capped);
            assertEquals(2, Parallel.threads());
            // Without the cap the worker takes part: with tasks of 20 ms each, 8 of them cannot all be gone before it wakes.
            Set<String> free = runners(8);
            assertEquals(2, free.size(), "tasks without a cap ran on " + free);
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void capIsPerThread() throws Exception {
        int before = Parallel.threads();
        Parallel.setThreads(2);
        try {
            CountDownLatch inside = new CountDownLatch(1), checked = new CountDownLatch(1);
            Thread other = new Thread(() -> Parallel.withThreads(1, () -> {
                inside.countDown();
                try {
                    checked.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return null;
            }));
            other.start();
            assertTrue(inside.await(10, TimeUnit.SECONDS));
            assertEquals(2, Parallel.threads(), "another thread's cap leaked to this one");
            checked.countDown();
            other.join();
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void capBelowOneIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Parallel.withThreads(0, () -> null));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
    }
}
