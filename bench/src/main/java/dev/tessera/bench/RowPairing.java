package dev.tessera.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * The row kernels against a plain copy, {@link RowKernelBenchmark}'s own code paths, in one JVM and timed in alternating
 * rounds (the order rotates each round). JMH runs each kernel in its own fork one after the other, and on these shared
 * hosts the copy's speed moved by a third between minutes (2.2-3.4 ms for the same 100 MB, two threads, 2026-12-02,
 * Zen 4), so a softmax fork and a copy fork minutes apart compared the host's phases as much as the kernels.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.tessera.bench.RowPairing \
 *     [kernels=softmax,layernorm,gelu] [threads=2] [rounds=12] [seconds per round=0.25]
 * </pre>
 * A round times each kernel and the copy as the best call within its share of the round. Prints one JSON line per
 * kernel: its median ms, the copy's, each round's bandwidth as a fraction of that round's copy (copy ms / kernel ms:
 * both move 8 bytes per float), their median and how many rounds reached the 0.7.
 */
public final class RowPairing {
    private RowPairing() {}

    public static void main(String[] a) {
        String[] kernels = (a.length > 0 ? a[0] : "softmax,layernorm,gelu").split(",");
        int threads = a.length > 1 ? Integer.parseInt(a[1]) : 2, rounds = a.length > 2 ? Integer.parseInt(a[2]) : 12;
        double seconds = a.length > 3 ? Double.parseDouble(a[3]) : 0.25;
        if (threads < 1 || rounds < 1 || !(seconds > 0)) {
            throw new IllegalArgumentException("threads, rounds and seconds must be positive: " + threads + ", " + rounds + ", " + seconds);
        }
        for (String k : kernels) {
            // add and adamw move more than 8 bytes per float: copy ms / kernel ms would not be a bandwidth fraction.
            if (!List.of("softmax", "layernorm", "gelu", "gelu_tanh").contains(k.trim())) {
                throw new IllegalArgumentException("RowPairing pairs softmax, layernorm, gelu and gelu_tanh with a copy, not '" + k.trim()
                        + "' (for add and adamw, which move more than 8 bytes per float, use RowKernelBenchmark's GB/s)");
            }
        }
        List<RowKernelBenchmark> benches = new ArrayList<>();
        benches.add(bench("copy", threads));
        for (String k : kernels) benches.add(bench(k.trim(), threads));
        RowKernelBenchmark.Bytes sink = new RowKernelBenchmark.Bytes();
        int m = benches.size();
        // Warm-up: every kernel's loops reach C2 before the first timed round.
        for (RowKernelBenchmark b : benches) bestMs(b, sink, 2);
        double[][] ms = new double[m][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < m; i++) {
                int which = (i + r) % m;
                ms[which][r] = bestMs(benches.get(which), sink, seconds);
            }
        }
        for (int i = 1; i < m; i++) {
            double[] frac = new double[rounds];
            for (int r = 0; r < rounds; r++) frac[r] = ms[0][r] / ms[i][r];
            System.out.printf("{\"kernel\": \"%s\", \"threads\": %d, \"rounds\": %d, \"kernel_ms\": %.3f, \"copy_ms\": %.3f, "
                            + "\"of_copy_bandwidth\": [%s], \"median\": %.2f, \"rounds_at_0_7\": %d}%n",
                    benches.get(i).kernel, threads, rounds, Rounds.median(ms[i]), Rounds.median(ms[0]), Rounds.list(frac, "%.2f"),
                    Rounds.median(frac), Rounds.atLeast(frac, 0.7));
        }
        for (RowKernelBenchmark b : benches) b.tearDown();
    }

    private static RowKernelBenchmark bench(String kernel, int threads) {
        RowKernelBenchmark b = new RowKernelBenchmark();
        b.kernel = kernel;
        b.impl = "simd";
        b.cols = 768;
        b.rows = 16384;
        b.threads = threads;
        b.setup();
        return b;
    }

    /** The fastest single call within the time: the host's slow moments lengthen some calls, never shorten one. */
    private static double bestMs(RowKernelBenchmark b, RowKernelBenchmark.Bytes sink, double seconds) {
        long t0 = System.nanoTime();
        double best = Double.MAX_VALUE;
        do {
            long s = System.nanoTime();
            b.run(sink);
            best = Math.min(best, (System.nanoTime() - s) / 1e6);
        } while (System.nanoTime() - t0 < seconds * 1e9);
        return best;
    }
}
