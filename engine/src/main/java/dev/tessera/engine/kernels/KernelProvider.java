package dev.tessera.engine.kernels;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Picks the kernels once, at first use (the Lucene vectorization-provider convention): the Vector API implementation
 * when jdk.incubator.vector is readable, the VM is HotSpot with C2, and vectors are at least 256 bits; otherwise the
 * scalar reference. One INFO line names the width and FMA; a fallback logs one WARN naming the flag to add.
 *
 * <p>{@code -Dtessera.kernels=scalar} forces the fallback; {@code -Dtessera.vectorBits=256} narrows the vectors.
 */
public final class KernelProvider {
    private static final System.Logger LOG = System.getLogger("dev.tessera.engine.kernels");
    private static final String SIMD_CLASS = "dev.tessera.engine.kernels.simd.SimdKernels";
    private static final Selection SELECTED = select();

    /** The active kernels and why they were chosen. */
    public record Selection(Kernels kernels, String reason, int vectorBits, boolean fma, String microKernel) {}

    private KernelProvider() {}

    public static Kernels get() { return SELECTED.kernels(); }

    public static Selection selection() { return SELECTED; }

    private static Selection select() {
        String forced = System.getProperty("tessera.kernels", "auto").toLowerCase(Locale.ROOT);
        if (forced.equals("scalar")) {
            LOG.log(System.Logger.Level.WARNING, "Tessera kernels: scalar path forced by -Dtessera.kernels=scalar");
            return new Selection(new ScalarKernels(), "forced by -Dtessera.kernels=scalar", 32, false, "none");
        }
        String why = simdUnavailable();
        if (why != null) {
            LOG.log(System.Logger.Level.WARNING, "Tessera kernels: scalar fallback, " + why);
            return new Selection(new ScalarKernels(), why, 32, false, "none");
        }
        try {
            Class<?> c = Class.forName(SIMD_CLASS);
            int bits = (int) c.getMethod("vectorBits").invoke(null);
            if (bits < 256) {
                String r = "the Vector API offers only " + bits + "-bit float vectors here (256 or more needed)";
                LOG.log(System.Logger.Level.WARNING, "Tessera kernels: scalar fallback, " + r);
                return new Selection(new ScalarKernels(), r, bits, false, "none");
            }
            Kernels k = (Kernels) c.getConstructor().newInstance();
            String micro = (String) c.getMethod("microKernel").invoke(k);
            boolean fma = fmaAvailable();
            LOG.log(System.Logger.Level.INFO, "Tessera kernels: Vector API, " + bits + "-bit float vectors (" + bits / 32
                    + " lanes), FMA " + (fma ? "yes" : "no") + ", GEMM micro-kernel " + micro);
            String slowGc = slowCollector();
            if (slowGc != null) LOG.log(System.Logger.Level.WARNING, "Tessera kernels: " + slowGc);
            return new Selection(k, "jdk.incubator.vector readable on HotSpot C2 with " + bits + "-bit vectors", bits, fma, micro);
        } catch (ReflectiveOperationException | LinkageError e) {
            String r = "could not load the Vector API kernels (" + e + "); add --add-modules jdk.incubator.vector";
            LOG.log(System.Logger.Level.WARNING, "Tessera kernels: scalar fallback, " + r);
            return new Selection(new ScalarKernels(), r, 32, false, "none");
        }
    }

    /** Null when the Vector API can be used, else the reason with the flag that would fix it. */
    private static String simdUnavailable() {
        if (Runtime.version().feature() < 25) return "JDK " + Runtime.version().feature() + " is older than 25";
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return "jdk.incubator.vector is not readable: add --add-modules jdk.incubator.vector to the java command";
        }
        String vm = System.getProperty("java.vm.name", "");
        if (!vm.contains("HotSpot") && !vm.contains("OpenJDK")) return "the VM '" + vm + "' is not HotSpot";
        String info = System.getProperty("java.vm.info", "");
        if (info.contains("interpreted mode")) return "the JVM runs interpreted (-Xint): remove -Xint";
        String level = vmOption("TieredStopAtLevel");
        if (level != null && !level.isEmpty() && Integer.parseInt(level) < 4) {
            return "C2 is disabled by -XX:TieredStopAtLevel=" + level + ": remove that flag";
        }
        String useC2 = vmOption("UseCompiler");
        if ("false".equals(useC2)) return "the JIT is disabled: remove -XX:-UseCompiler";
        return null;
    }

    private static boolean fmaAvailable() {
        String useFma = vmOption("UseFMA");
        if (useFma != null) return Boolean.parseBoolean(useFma);
        String arch = System.getProperty("os.arch", "");
        return arch.contains("aarch64") || CpuInfo.get().hasFlag("fma");
    }

    /**
     * Null under G1, ZGC and the rest; a warning under Serial or Parallel, where the GEMM micro-kernel measured 1.6x
     * slower (111-116 against 179-188 GFLOPS, bench/scripts/gc_gemm_probe.sh; cause unknown). Off with
     * -Dtessera.gcWarning=false for a process that chose its collector for its footprint.
     */
    static String slowCollector() {
        if (!Boolean.parseBoolean(System.getProperty("tessera.gcWarning", "true"))) return null;
        for (String gc : new String[] {"UseSerialGC", "UseParallelGC"}) {
            if ("true".equals(vmOption(gc))) {
                return "-XX:+" + gc + " measured 1.6x slower in GEMM than G1 or ZGC; add -XX:+UseG1GC for speed"
                        + " (or -Dtessera.gcWarning=false to keep " + gc.substring(3) + " quietly)";
            }
        }
        return null;
    }

    static String vmOption(String name) {
        try {
            var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return bean == null ? null : bean.getVMOption(name).getValue();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }
}
