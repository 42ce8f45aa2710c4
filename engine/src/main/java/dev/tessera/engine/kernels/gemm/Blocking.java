package dev.tessera.engine.kernels.gemm;

import dev.tessera.engine.kernels.CpuInfo;

/**
 * Cache blocking for one micro-kernel shape on one CPU (BLIS's KC, NC). The micro-kernel streams both its panels: per
 * k step two vectors of B and MR floats of A for 2 MR FMAs, about 11 bytes per cycle at 512 bits, which L2 delivers.
 * So KC is bounded by L2, not L1: an A and a B micro-panel in half of it, at most 1024. Fewer K blocks mean fewer
 * passes of C through the tile buffer, and a ViT's 768-deep products become one block. The B panel (kc x nc) takes
 * 3/8 of L2, leaving room for the A panels that stream past it. Derived from the detected caches, overridable for
 * experiments with {@code -Dtessera.gemm.kc}, {@code -Dtessera.gemm.nc} (a fixed nc then holds for every depth) and
 * {@code -Dtessera.gemm.ncShare} (the fraction of L2).
 */
public record Blocking(int mr, int nr, int kc, int nc, long l2Bytes, int l2Ways, boolean ncFixed) {

    /**
     * Packing A once for all workers pays while the packed copy still fits in L2; beyond that each worker re-reads it
     * from L3 (and from the other core's cache), which costs more than packing it twice.
     */
    public long sharedPackBytes() { return l2Bytes; }

    /**
     * NC for a product whose K blocks are kcEff deep (K itself when K is below kc): the B panel still takes its share of
     * L2. A 192-deep training GEMM then sweeps hundreds of columns per panel instead of 64 (640 at half of 1 MiB), and its
     * 6400 rows of A stream from memory once per panel (a D=192 training step ran 592-620 ms with such an nc, 633-719
     * with nc = 64).
     */
    public int nc(int kcEff) {
        return ncFixed || kcEff >= kc ? nc : ncFor(l2Bytes, kcEff, nr);
    }

    /**
     * Whether kc rows of nc floats of B, read in place with rows ldb floats apart, stay in L2. Packed, the block takes
     * half of L2; in place its rows start ldb * 4 bytes apart, and a stride of many cache lines maps them onto a
     * fraction of L2's sets (a set index repeats every sets / gcd(stride in lines, sets) rows). On Zen 3 (512 KiB,
     * 8 ways, 1024 sets) a 1024 x 64 block of a 2304-wide B covers 320 sets: 2560 lines for 5120, so it streamed from
     * L3 on every A panel and one 197x768x3072 product took 13.7 ms in place against 11.4 packed. The same block
     * shapes fit Zen 4's 2048 sets, where reading in place saved the packing (7%).
     */
    public boolean fitsInPlace(long ldb, int kcEff, int ncEff) {
        long line = 64, sets = Math.max(1, l2Bytes / line / l2Ways);
        long strideLines = Math.max(1, (ldb * 4 + line - 1) / line), rowLines = (ncEff * 4L + line - 1) / line + 1;
        long startSets = sets / gcd(strideLines, sets);
        long coveredSets = Math.min(sets, startSets * rowLines);
        return (long) kcEff * rowLines <= IN_PLACE_SHARE * coveredSets * l2Ways;
    }

    /**
     * The share of the L2 lines B's rows map to that the block may fill, leaving the rest to the A panels streaming
     * past it. All of it (until 2026-12-02) took a 1024 x 96 block of a 768-wide B (exactly filling its 7168 lines)
     * in place on Zen 5, where 197x768x3072 ran 7.09 ms against 6.11 packed (one JVM, alternating, one thread). Half,
     * against three quarters (Zen 5, one JVM, alternating, medians): 197x2304x768 4.39 against 4.61 ms at one thread
     * and level at two, 1576x2304x768 32.5 against 33.7, 197x768x768 level, the D = 192 recipe's training step 199
     * against 211 ms. (On Zen 4, in an earlier blocking, kc 768 and nc 160, blocks filling three quarters had saved 7%
     * in place; not measured again there.)
     */
    private static final double IN_PLACE_SHARE = Double.parseDouble(System.getProperty("tessera.gemm.inPlaceShare", "0.5"));

    private static long gcd(long a, long b) {
        while (b != 0) { long t = a % b; a = b; b = t; }
        return a;
    }

    /**
     * The B panel's share of L2. Half of it (the default until 2026-12-01) left Zen 3's 512 KiB too full once the 605
     * KB of a 197-row A streamed past a 768 x 80 panel: one JVM, alternating, 3/8 (768 x 64) ran 197x2304x768 in
     * 8.60-8.68 ms against 9.68-9.77 at one thread and 5.69-6.18 against 6.87-7.21 at two, 197x3072x768 3-8% faster,
     * 1024^3 2% faster, 197x768x768, 197x768x3072, 1576x2304x768 and 6400x576x192 within 2%, the D = 192 training
     * step 1057 against 1098 ms best; ViT-B/16 inference (pre-packed B) unchanged.
     */
    private static final double SHARE = Double.parseDouble(System.getProperty("tessera.gemm.ncShare", "0.375"));

    /** Columns of a kc-deep B panel in SHARE of L2, a multiple of nr. */
    private static int ncFor(long l2Bytes, int kc, int nr) {
        int n = (int) Math.min(4096, Math.max(nr, (long) (l2Bytes * SHARE) / (Math.max(1, kc) * 4L)));
        return Math.max(nr, n / nr * nr);
    }

    public static Blocking of(int mr, int nr, CpuInfo cpu) {
        // Was L1-bound (half of L1 for the A micro-panel: kc 320 here). Side by side in one JVM, one thread, kc 768
        // against 320: 197x2304x768 179 vs 168 GFLOPS, 1576x2304x768 186 vs 174, 1024^3 187 vs 172 (medians).
        int kc = (int) Math.min(1024, Math.max(64, cpu.l2Bytes() / 2 / ((mr + nr) * 4L)));
        kc = Math.max(64, kc / 32 * 32);
        int nc = ncFor(cpu.l2Bytes(), kc, nr);
        boolean ncFixed = Integer.getInteger("tessera.gemm.nc") != null;
        kc = Integer.getInteger("tessera.gemm.kc", kc);
        nc = Math.max(nr, Integer.getInteger("tessera.gemm.nc", nc) / nr * nr);
        return new Blocking(mr, nr, kc, nc, cpu.l2Bytes(), cpu.l2Ways(), ncFixed);
    }
}
