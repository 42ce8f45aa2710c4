package dev.tessera.vit.cli;

import dev.tessera.engine.kernels.CpuInfo;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Parallel;
import java.io.PrintStream;

/** {@code tessera info}: what the kernels get from this machine and JVM. */
final class InfoCommand {
    private InfoCommand() {}

    static int run(String[] args, PrintStream out) {
        if (args.length > 0) throw new UsageException("info takes no arguments");
        CpuInfo cpu = CpuInfo.get();
        KernelProvider.Selection sel = KernelProvider.selection();
        out.printf("JDK          %s %s (%s)%n", System.getProperty("java.vm.name"), Runtime.version(), System.getProperty("java.home"));
        out.printf("CPU          %s%n", cpu.model());
        out.printf("cores        %d (kernel threads: %d)%n", cpu.cores(), Parallel.threads());
        out.printf("caches       L1d %d KiB, L2 %d KiB (%d-way), L3 %d KiB (L2 from %s)%n", cpu.l1dBytes() / 1024, cpu.l2Bytes() / 1024, cpu.l2Ways(), cpu.l3Bytes() / 1024, cpu.cacheSource());
        out.printf("vector width %d bits (%d float lanes)%n", sel.vectorBits(), sel.vectorBits() / 32);
        out.printf("FMA          %s%n", sel.fma() ? "yes" : "no");
        out.printf("kernels      %s%n", sel.kernels().name());
        out.printf("  because    %s%n", sel.reason());
        out.printf("GEMM         micro-kernel %s%n", sel.microKernel());
        out.printf("huge pages   %s%n", dev.tessera.engine.tensor.LargePages.available()
                ? "pre-packed weights advised into transparent huge pages (kernel mode: " + dev.tessera.engine.tensor.LargePages.kernelMode() + ")"
                : "no: pre-packed weights in ordinary pages (Linux and --enable-native-access=ALL-UNNAMED needed; -Dtessera.largePages)");
        return 0;
    }
}
