package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tessera.engine.kernels.KernelProvider;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
        assumeSimd();
        String out = runProbe(List.of("-XX:-UseTypeProfile", "-Xbatch"));
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

    /**
     * When C1 gives up on a method at tier 3 ("out of virtual registers in linear scan") after the method had been
     * compiled at tier 2, the tiered policy never compiles it with C2: it keeps running in C1 code, boxing every
     * vector. Whether tier 2 came first depends on the compile queues, so it happened in some JVMs and not others: the
     * GEMM's accumulating micro-kernel took one attention product from 30 ms and no heap to 600 ms and 5 GB per call
     * in two JVMs of three. Here every kernel runs in a JVM that stops at tier 3 (with thresholds low enough that a few calls compile
     * everything), and no method of ours may be refused. Verified to fail on that micro-kernel.
     */
    @Test
    void c1CompilesEveryKernelMethodAtTier3() throws Exception {
        assumeSimd();
        String out = runProbe(List.of("-XX:TieredStopAtLevel=3", "-Xbatch", "-XX:CompileThresholdScaling=0.05",
                "-XX:+PrintCompilation"), "20", "c1");
        List<String> refused = new ArrayList<>();
        int compiledOfOurs = 0;
        for (String line : out.split("\n")) {
            if (!line.contains("dev.tessera.")) continue;
            if (line.contains("COMPILE SKIPPED") || line.contains("not compilable")) refused.add(line.trim());
            else if (line.contains("MicroKernel")) compiledOfOurs++;
        }
        assertTrue(compiledOfOurs > 0, "no micro-kernel was compiled; the probe's output:\n" + out);
        assertEquals(List.of(), refused, "methods C1 refused at tier 3 (they would never reach C2 after a tier-2 start)");
    }

    /**
     * No kernel may create a heap memory segment, not even in the interpreter. The Vector API's interpreted
     * reinterpretAsFloats wraps a byte[] in one; loading that class broke C2's assumption that every segment is native,
     * ~40 compiled kernel methods were thrown away and compiled again with type guards, and GEMMs packing B per call
     * ran at 140 instead of 181 GFLOPS (train --quick: 283 against 310 img/s). Verified to fail with exp written
     * through reinterpretAsFloats.
     */
    @Test
    void noKernelCreatesAHeapSegment() throws Exception {
        assumeSimd();
        String out = runProbe(List.of("-Xlog:class+load=info"), "20");
        assertTrue(out.contains("jdk.internal.foreign.NativeMemorySegmentImpl"), "class loading was not logged:\n" + out);
        List<String> heap = out.lines().filter(l -> l.contains("HeapMemorySegmentImpl")).toList();
        assertEquals(List.of(), heap, "a kernel (or the Vector API's fallback under one) created a heap MemorySegment");
    }

    private static void assumeSimd() {
        assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(), "needs --add-modules jdk.incubator.vector");
        assumeTrue(KernelProvider.get().name().startsWith("simd"), "the Vector API path is not active: " + KernelProvider.get().name());
    }

    /** Runs {@link KernelAllocationProbe} in a child JVM with these flags and returns its output. */
    private static String runProbe(List<String> flags, String... args) throws IOException, InterruptedException {
        List<String> all = new ArrayList<>(List.of("-XX:+UseSerialGC", "-Dtessera.gcWarning=false", "-Xmx256m"));
        all.addAll(flags);
        return ChildJvm.run(Duration.ofMinutes(5), all, KernelAllocationProbe.class.getName(), args);
    }
}
