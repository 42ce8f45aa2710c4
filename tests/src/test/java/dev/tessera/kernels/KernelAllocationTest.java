package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tessera.engine.kernels.KernelProvider;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A loop-carried vector used as a receiver ({@code acc = acc.add(x)}) is a virtual call to C2 until a type profile
 * tells it the concrete vector class; when the profile was missing (a method compiled at tier 2, which does not
 * profile, then at tier 4) the call stayed virtual and every iteration boxed its vectors. It happened in some JVM runs
 * and not others: fused attention allocated 160 MB per call in one run of six, a training step 0.2 to 3.3 GB. Written
 * {@code acc = x.add(acc)}, the receiver's class is exact and the call never depends on a profile.
 * <p>
 * This test makes the bad case certain: a JVM without type profiles ({@code -XX:-UseTypeProfile}) runs every kernel
 * and reports the heap bytes per call once compiled. Boxing costs kilobytes per call; what remains (captured lambdas,
 * per-call index arrays) is a few hundred bytes.
 */
@Tag("kernels")
class KernelAllocationTest {
    static final int BYTES_PER_CALL = 4096;

    @Test
    void noKernelAllocatesOnTheHeapEvenWithoutTypeProfiles() throws Exception {
        assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(), "needs --add-modules jdk.incubator.vector");
        assumeTrue(KernelProvider.get().name().startsWith("simd"), "the Vector API path is not active: " + KernelProvider.get().name());
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-XX:-UseTypeProfile", "-Xbatch", "-XX:+UseSerialGC", "-Xmx256m"));
        // The same vector width and kernel path as this JVM (the AVX2 execution narrows it).
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-XX:MaxVectorSize=") || arg.startsWith("-Dtessera.")) cmd.add(arg);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), KernelAllocationProbe.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        try {
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the probe JVM did not finish");
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), "probe JVM failed:\n" + out);
        List<String> heavy = new ArrayList<>();
        int kernels = 0;
        for (String line : out.split("\n")) {
            String[] f = line.split("\t");
            if (f.length != 2) continue;
            kernels++;
            if (Long.parseLong(f[1].trim()) > BYTES_PER_CALL) heavy.add(f[0] + ": " + f[1].trim() + " bytes per call");
        }
        assertTrue(kernels >= 30, "the probe reported only " + kernels + " kernels:\n" + out);
        assertEquals(List.of(), heavy, "kernels that allocate on the heap once compiled (boxed vectors):\n" + out);
    }
}
