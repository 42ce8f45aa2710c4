package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tessera.engine.kernels.KernelProvider;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Under the Serial or Parallel collector the GEMM ran 1.6x slower than under G1 (bench/scripts/gc_gemm_probe.sh), so
 * the provider warns there, once, naming the flag; G1 and an explicit opt-out stay quiet. Each case is a child JVM.
 */
@Tag("kernels")
class CollectorWarningTest {
    private static final String WARNING = "measured 1.6x slower in GEMM";

    @Test
    void warnsUnderSerialAndParallelOnly() throws Exception {
        assumeTrue(KernelProvider.get().name().startsWith("simd"), "the warning belongs to the Vector API path");
        String serial = info("-XX:+UseSerialGC");
        assertTrue(serial.contains(WARNING) && serial.contains("-XX:+UseSerialGC") && serial.contains("-XX:+UseG1GC"), serial);
        String parallel = info("-XX:+UseParallelGC");
        assertTrue(parallel.contains(WARNING) && parallel.contains("-XX:+UseParallelGC"), parallel);
        String g1 = info("-XX:+UseG1GC");
        assertFalse(g1.contains(WARNING), g1);
        assertTrue(g1.contains("Vector API"), g1); // the child did select the kernels
        String optedOut = info("-XX:+UseSerialGC", "-Dtessera.gcWarning=false");
        assertFalse(optedOut.contains(WARNING), optedOut);
    }

    private static String info(String... flags) throws Exception {
        List<String> all = new ArrayList<>(List.of("-Xmx128m"));
        all.addAll(List.of(flags));
        return ChildJvm.run(Duration.ofMinutes(2), all, "dev.tessera.vit.cli.Main", "info");
    }
}
