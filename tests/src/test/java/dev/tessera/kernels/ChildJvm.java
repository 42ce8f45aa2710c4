package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A main class run in a fresh JVM on this test's JDK and class path, for checks that depend on JVM flags. */
final class ChildJvm {
    private ChildJvm() {}

    /**
     * Runs {@code mainClass} with the Vector API module, this JVM's vector width and {@code -Dtessera.*} switches (so
     * the AVX2 and scalar executions stay what they are), then {@code flags}, which win over those. Returns stdout and
     * stderr together; fails the test if the child does not exit with 0 within {@code timeout}.
     */
    static String run(Duration timeout, List<String> flags, String mainClass, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-XX:MaxVectorSize=") || arg.startsWith("-Dtessera.")) cmd.add(arg);
        }
        cmd.addAll(flags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS), "the child JVM (" + mainClass + ") did not finish");
            assertEquals(0, p.exitValue(), "child JVM failed:\n" + out);
            return out;
        } finally {
            p.destroyForcibly();
        }
    }
}
