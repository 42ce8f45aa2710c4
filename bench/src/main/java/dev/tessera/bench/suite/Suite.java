package dev.tessera.bench.suite;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * {@code tessera bench [--quick] [--filter REGEX] [--forks N] [--out DIR]}: the machine's roofs, then the JMH suite (kernels, models,
 * thread scaling) with the GC profiler, then summary.json in natural units. {@code tessera bench report RUN_DIR
 * [--baseline DIR]} writes report.html; {@code tessera bench peers [--out RUN_DIR]} adds the peers' figures.
 */
public final class Suite {
    private Suite() {}

    /** One JMH run: a benchmark class with the parameter values to sweep, and its timing. */
    record Group(String benchmark, Map<String, String[]> params, int warmups, int warmupSeconds, int measurements, int measureSeconds) {}

    public static void main(String[] args) throws Exception {
        String cmd = args.length > 0 && !args[0].startsWith("--") ? args[0] : "run";
        List<String> rest = new ArrayList<>(List.of(args));
        if (!rest.isEmpty() && rest.get(0).equals(cmd)) rest.remove(0);
        try {
            switch (cmd) {
                case "run" -> run(rest);
                case "report" -> Report.main(rest);
                case "peers" -> Peers.main(rest);
                default -> throw new IllegalArgumentException("unknown bench command '" + cmd + "': use run (default), report or peers");
            }
        } catch (IllegalArgumentException | IOException e) {
            System.err.println("tessera bench: " + e.getMessage());
            System.exit(2);
        }
    }

    static String option(List<String> a, String name, String def) {
        int i = a.indexOf(name);
        if (i < 0) return def;
        if (i + 1 >= a.size()) throw new IllegalArgumentException(name + " needs a value");
        return a.get(i + 1);
    }

    static List<Group> groups(boolean quick, int cores) {
        String[] all = new String[cores];
        for (int t = 1; t <= cores; t++) all[t - 1] = Integer.toString(t);
        String n = Integer.toString(cores);
        String[] oneAndN = cores > 1 ? new String[] {"1", n} : new String[] {"1"};
        List<Group> g = new ArrayList<>();
        if (quick) {
            // Three measurements: with two, JMH gives no error and the report could not tell noise from change.
            // Warm-up is what quick cannot skimp on: C2 needs seconds for the vector kernels, and until then they run
            // boxed (gigabytes of garbage per op). The measurements themselves can be short.
            g.add(new Group("GemmBenchmark", Map.of("shape", new String[] {"197x2304x768", "1576x2304x768", "1024x1024x1024"}, "threads", oneAndN, "impl", new String[] {"simd"}), 3, 2, 3, 1));
            g.add(new Group("RowKernelBenchmark", Map.of("kernel", new String[] {"copy", "add", "layernorm", "softmax", "gelu"}, "impl", new String[] {"simd"}, "threads", new String[] {n}), 3, 1, 3, 1));
            g.add(new Group("AttentionBenchmark", Map.of("impl", new String[] {"fused"}, "mode", new String[] {"fwd", "fwdbwd"}, "seq", new String[] {"197"}, "threads", new String[] {n}), 6, 2, 3, 1));
            g.add(new Group("InferenceBenchmark", Map.of("model", new String[] {"ti/16", "s/16"}, "batch", new String[] {"1", "8"}, "threads", new String[] {n}), 5, 3, 3, 2));
            g.add(new Group("TrainStepBenchmark", Map.of("dim", new String[] {"128"}, "heads", new String[] {"4"}, "mlpDim", new String[] {"256"}, "threads", new String[] {n}), 3, 3, 3, 2));
        } else {
            g.add(new Group("GemmBenchmark", Map.of("threads", all, "impl", new String[] {"simd"}), 3, 2, 5, 2));
            g.add(new Group("RowKernelBenchmark", Map.of("impl", new String[] {"simd"}, "threads", all), 3, 1, 5, 1));
            // The fused backward reaches C2 late: after 3 x 1 s it still boxed 3.9 MB per call (AttentionBenchmark).
            g.add(new Group("AttentionBenchmark", Map.of("threads", new String[] {n}), 6, 2, 5, 2));
            g.add(new Group("InferenceBenchmark", Map.of("model", new String[] {"ti/16", "s/16", "b/16"}, "batch", new String[] {"1", "8", "32"}, "threads", new String[] {n}), 3, 5, 3, 5));
            g.add(new Group("InferenceBenchmark", Map.of("model", new String[] {"b/16"}, "batch", new String[] {"1"}, "threads", all), 3, 5, 3, 5));
            g.add(new Group("TrainStepBenchmark", Map.of("threads", new String[] {n}), 3, 3, 5, 3));
            g.add(new Group("TrainStepBenchmark", Map.of("dim", new String[] {"128"}, "heads", new String[] {"4"}, "mlpDim", new String[] {"256"}, "threads", new String[] {n}), 3, 3, 5, 3));
        }
        return g;
    }

    static void run(List<String> a) throws IOException, RunnerException {
        boolean quick = a.contains("--quick");
        Pattern filter = Pattern.compile(option(a, "--filter", ".*"));
        // More forks let the error include fork-to-fork variation, which one fork cannot see (see Report.FORK_NOISE).
        String forksArg = option(a, "--forks", "1");
        if (!forksArg.matches("[1-9][0-9]{0,2}")) throw new IllegalArgumentException("--forks needs a count from 1 to 999, not '" + forksArg + "'");
        int forks = Integer.parseInt(forksArg);
        Path out = Path.of(option(a, "--out", "bench-runs/" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
        Files.createDirectories(out);
        int cores = Runtime.getRuntime().availableProcessors();
        long t0 = System.nanoTime();

        System.out.println("tessera bench: roofs (FMA peak, copy bandwidth) on 1.." + cores + " threads");
        Map<String, Object> probes = new LinkedHashMap<>();
        List<Object> fma = new ArrayList<>(), bw = new ArrayList<>();
        for (int t = 1; t <= cores; t++) {
            double f = MachineProbe.fmaPeak(t, quick ? 1.0 : 3.0), b = MachineProbe.copyBandwidth(t, quick ? 1.0 : 3.0);
            fma.add(Map.of("threads", t, "gflops", round(f)));
            bw.add(Map.of("threads", t, "gb_per_s", round(b)));
            System.out.printf("  %d thread(s): FMA %.1f GFLOPS, copy %.1f GB/s%n", t, f, b);
        }
        probes.put("fma_peak", fma);
        probes.put("copy_bandwidth", bw);
        Files.writeString(out.resolve("probes.json"), dev.tessera.vit.io.Json.write(probes) + "\n");

        Path sidecar = out.resolve("memory.jsonl");
        Files.deleteIfExists(sidecar);
        int k = 0;
        for (Group g : groups(quick, cores)) {
            k++;
            if (!filter.matcher(g.benchmark()).find()) continue;
            Path json = out.resolve("jmh-" + k + "-" + g.benchmark() + ".json");
            List<String> jvm = new ArrayList<>(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                    "-XX:-UseProfiledLoopPredicate", "-Dtessera.bench.sidecar=" + sidecar.toAbsolutePath()));
            // The engine's switches (-Dtessera.kernels=scalar, .vectorBits, .threads, ...) reach the forks too.
            for (String key : System.getProperties().stringPropertyNames()) {
                if (key.startsWith("tessera.") && !key.equals("tessera.root") && !key.equals("tessera.bench.sidecar")) jvm.add("-D" + key + "=" + System.getProperty(key));
            }
            ChainedOptionsBuilder o = new OptionsBuilder()
                    .include("dev\\.tessera\\.bench\\." + g.benchmark() + "\\.")
                    .forks(forks)
                    .warmupIterations(g.warmups()).warmupTime(TimeValue.seconds(g.warmupSeconds()))
                    .measurementIterations(g.measurements()).measurementTime(TimeValue.seconds(g.measureSeconds()))
                    .jvmArgsAppend(jvm.toArray(String[]::new))
                    .addProfiler(GCProfiler.class)
                    .resultFormat(ResultFormatType.JSON).result(json.toString())
                    .shouldFailOnError(true);
            for (Map.Entry<String, String[]> p : g.params().entrySet()) o.param(p.getKey(), p.getValue());
            System.out.println("tessera bench: " + g.benchmark() + " " + describe(g.params()));
            new Runner(o.build()).run();
        }
        Summary.write(out);
        System.out.printf("tessera bench: done in %.1f min; %s (report: tessera bench report %s)%n", (System.nanoTime() - t0) / 60e9,
                out.resolve("summary.json"), out);
    }

    static String describe(Map<String, String[]> p) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, String[]> e : p.entrySet()) b.append(e.getKey()).append('=').append(String.join(",", e.getValue())).append(' ');
        return b.toString().trim();
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
