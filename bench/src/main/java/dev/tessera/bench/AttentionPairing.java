package dev.tessera.bench;

/**
 * Fused against naive attention, {@link AttentionBenchmark}'s own code paths, in one JVM and timed in alternating
 * rounds (who goes first alternates too). JMH runs the two in separate forks one after the other, and on these shared
 * hosts a fork's speed moved by a quarter between minutes: two runs of the same build gave fused / naive ratios of
 * 1.16x and 1.45x at N = 197, 1.39x and 0.77x at N = 1024 (2026-12-02, Zen 5). Here both see the same phases.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.tessera.bench.AttentionPairing \
 *     [seqs=197,1024] [mode=fwd|fwdbwd] [threads=2] [rounds=12] [seconds per round=0.5]
 * </pre>
 * Prints one JSON line per sequence length: each engine's median ms, each round's naive / fused ratio, their median,
 * how many rounds reached the 1.5x bar, and the median of naive / gemms (naive's products alone, {@code impl=gemms}):
 * the most any attention could gain over naive with products at this GEMM's rate. A second line gives each engine's
 * ms in every round.
 */
public final class AttentionPairing {
    private AttentionPairing() {}

    public static void main(String[] a) {
        String[] seqs = (a.length > 0 ? a[0] : "197,1024").split(",");
        String mode = a.length > 1 ? a[1] : "fwd";
        int threads = a.length > 2 ? Integer.parseInt(a[2]) : 2, rounds = a.length > 3 ? Integer.parseInt(a[3]) : 12;
        double seconds = a.length > 4 ? Double.parseDouble(a[4]) : 0.5;
        for (String sq : seqs) {
            int seq = Integer.parseInt(sq.trim());
            AttentionBenchmark fused = bench("fused", mode, seq, threads), naive = bench("naive", mode, seq, threads),
                    gemms = bench("gemms", mode, seq, threads);
            // As the benchmark's 12 s: the fused backward's per-head methods reach C2 late.
            msPerCall(fused, 12);
            msPerCall(naive, 12);
            msPerCall(gemms, 4);
            double[] f = new double[rounds], n = new double[rounds], g = new double[rounds], ratio = new double[rounds], floor = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                if (r % 2 == 0) {
                    f[r] = msPerCall(fused, seconds);
                    n[r] = msPerCall(naive, seconds);
                    g[r] = msPerCall(gemms, seconds);
                } else {
                    g[r] = msPerCall(gemms, seconds);
                    n[r] = msPerCall(naive, seconds);
                    f[r] = msPerCall(fused, seconds);
                }
                ratio[r] = n[r] / f[r];
                floor[r] = n[r] / g[r];
            }
            System.out.printf("{\"seq\": %d, \"mode\": \"%s\", \"threads\": %d, \"rounds\": %d, \"fused_ms\": %.3f, \"naive_ms\": %.3f, \"gemms_ms\": %.3f, "
                            + "\"naive_over_fused\": [%s], \"median_ratio\": %.2f, \"rounds_at_1_5\": %d, \"naive_over_gemms\": %.2f}%n",
                    seq, mode, threads, rounds, Rounds.median(f), Rounds.median(n), Rounds.median(g), Rounds.list(ratio, "%.2f"), Rounds.median(ratio),
                    Rounds.atLeast(ratio, 1.5), Rounds.median(floor));
            // Each engine's own rounds: a ratio that jumps tells which side moved.
            System.out.printf("{\"seq\": %d, \"fused_ms_rounds\": [%s], \"naive_ms_rounds\": [%s], \"gemms_ms_rounds\": [%s]}%n",
                    seq, Rounds.list(f, "%.3f"), Rounds.list(n, "%.3f"), Rounds.list(g, "%.3f"));
            fused.tearDown();
            naive.tearDown();
            gemms.tearDown();
        }
    }

    private static AttentionBenchmark bench(String impl, String mode, int seq, int threads) {
        AttentionBenchmark b = new AttentionBenchmark();
        b.impl = impl;
        b.mode = mode;
        b.seq = seq;
        b.threads = threads;
        b.setup();
        return b;
    }

    private static double msPerCall(AttentionBenchmark b, double seconds) {
        long t0 = System.nanoTime(), calls = 0;
        while (System.nanoTime() - t0 < seconds * 1e9) {
            b.attention();
            calls++;
        }
        return (System.nanoTime() - t0) / 1e6 / calls;
    }
}
