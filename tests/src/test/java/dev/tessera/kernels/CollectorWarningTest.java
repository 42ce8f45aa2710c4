package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tessera.engine.kernels.KernelProvider;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx128m"));
        cmd.addAll(List.of(flags));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-XX:MaxVectorSize=") || (arg.startsWith("-Dtessera.") && !arg.startsWith("-Dtessera.gcWarning"))) cmd.add(arg);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.tessera.vit.cli.Main", "info"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(2, TimeUnit.MINUTES), "the child JVM did not finish");
            assertEquals(0, p.exitValue(), "child JVM failed:\n" + out);
            return out;
        } finally {
            p.destroyForcibly();
        }
    }
}
