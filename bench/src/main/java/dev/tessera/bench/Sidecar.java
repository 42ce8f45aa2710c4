package dev.tessera.bench;

import dev.tessera.engine.tensor.OffHeap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Memory figures JMH does not measure, written by each benchmark fork at tear-down to the file named by
 * {@code -Dtessera.bench.sidecar}: the engine's own off-heap bytes (everything it allocated in the fork; arenas live
 * for the whole trial, so this is the peak) and the process's peak resident set (VmHWM). A no-op without the property.
 */
public final class Sidecar {
    private Sidecar() {}

    public static void record(String benchmark, String params) {
        String file = System.getProperty("tessera.bench.sidecar");
        if (file == null) return;
        String line = String.format("{\"benchmark\": \"%s\", \"params\": \"%s\", \"offheap_bytes\": %d, \"peak_rss_bytes\": %d}%n",
                benchmark, params, OffHeap.allocatedBytes(), peakRss());
        try {
            Files.writeString(Path.of(file), line, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            System.err.println("tessera bench: cannot write " + file + ": " + e.getMessage());
        }
    }

    /** VmHWM from /proc/self/status in bytes, or -1 where there is no /proc. */
    static long peakRss() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
