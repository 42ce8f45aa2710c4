package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.kernels.KernelProvider;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The provider picks the path the JVM flags ask for; the suite runs under three flag sets (see tests/pom.xml). */
@Tag("kernels")
class ProviderTest {
    @Test
    void pathMatchesTheFlags() {
        KernelProvider.Selection s = KernelProvider.selection();
        boolean vectorModule = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        if ("scalar".equals(System.getProperty("tessera.kernels"))) {
            assertEquals("scalar", s.kernels().name(), s.reason());
            assertTrue(s.reason().contains("forced"), s.reason());
        } else if (!vectorModule) {
            assertEquals("scalar", s.kernels().name(), s.reason());
            assertTrue(s.reason().contains("--add-modules jdk.incubator.vector"), s.reason());
        } else {
            assertTrue(s.kernels().name().startsWith("simd-"), s.reason());
            assertTrue(s.reason().contains("HotSpot"), s.reason());
            boolean avx2Run = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().contains("-XX:MaxVectorSize=32");
            if (avx2Run) {
                assertEquals(256, s.vectorBits());
                assertTrue(s.microKernel().startsWith("6x16"), s.microKernel());
            } else {
                assertTrue(s.vectorBits() >= 256);
            }
        }
    }

    @Test
    void fallbackClassesDoNotReferenceTheIncubatorModule() throws Exception {
        for (String c : new String[] {"ScalarKernels", "KernelProvider", "Kernels", "Parallel", "gemm.GemmDriver", "gemm.Blocking", "MathRef"}) {
            String res = "/dev/tessera/engine/kernels/" + c.replace('.', '/') + ".class";
            try (var in = KernelProvider.class.getResourceAsStream(res)) {
                assertNotNull(in, res);
                String bytes = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
                assertFalse(bytes.contains("jdk/incubator/vector"), c + " links the incubator module");
            }
        }
    }
}
