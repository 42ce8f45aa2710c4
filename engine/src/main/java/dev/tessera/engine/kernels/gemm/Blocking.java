package dev.tessera.engine.kernels.gemm;

import dev.tessera.engine.kernels.CpuInfo;

/**
 * Cache blocking for one micro-kernel shape on one CPU (BLIS's KC, NC): the A micro-panel (mr x kc) stays in L1 while
 * the B panel (kc x nc) it sweeps stays in L2. Derived from the detected caches, overridable for experiments with
 * {@code -Dtessera.gemm.kc} and {@code -Dtessera.gemm.nc}. {@code sharedPackBytes} bounds the A that workers pack together.
 */
public record Blocking(int mr, int nr, int kc, int nc, long sharedPackBytes) {

    public static Blocking of(int mr, int nr, CpuInfo cpu) {
        // Half of L1 for the A micro-panel leaves room for the B rows streaming through.
        int kc = (int) Math.min(512, Math.max(64, cpu.l1dBytes() / 2 / (mr * 4L)));
        kc = Math.max(64, kc / 32 * 32);
        // Half of L2 for the B panel; the rest holds A micro-panels and C tiles.
        int nc = (int) Math.min(4096, Math.max(nr, cpu.l2Bytes() / 2 / (kc * 4L)));
        nc = Math.max(nr, nc / nr * nr);
        kc = Integer.getInteger("tessera.gemm.kc", kc);
        nc = Math.max(nr, Integer.getInteger("tessera.gemm.nc", nc) / nr * nr);
        // Packing A once for all workers pays while the packed copy still fits in L2; beyond that each worker
        // re-reads it from L3 (and from the other core's cache), which costs more than packing it twice.
        return new Blocking(mr, nr, kc, nc, cpu.l2Bytes());
    }
}
