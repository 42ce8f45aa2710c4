package dev.tessera.bench.suite;

import dev.tessera.engine.kernels.CpuInfo;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.vit.io.Json;
import dev.tessera.vit.model.ViTConfig;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * summary.json of a run: where it ran (CPU, caches, JVM and flags, vector width, FMA, git commit, date), the roofs, and
 * every benchmark's figure in natural units (GFLOPS, GB/s, img/s) with its error, allocation per op, the engine's
 * off-heap bytes and the fork's peak RSS. Kernels also get an arithmetic intensity (flops per byte of memory traffic)
 * for the roofline.
 */
public final class Summary {
    private Summary() {}

    public static Map<String, Object> write(Path run) throws IOException {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("date", OffsetDateTime.now().toString());
        s.put("git_commit", git("rev-parse", "HEAD"));
        s.put("git_dirty", !git("status", "--porcelain").isEmpty());
        CpuInfo cpu = CpuInfo.get();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpu", cpu.model());
        m.put("cores", cpu.cores());
        m.put("l1d_bytes", cpu.l1dBytes());
        m.put("l2_bytes", cpu.l2Bytes());
        m.put("l3_bytes", cpu.l3Bytes());
        m.put("cache_source", cpu.cacheSource());
        m.put("flags", cpu.flags());
        s.put("machine", m);
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("vendor", System.getProperty("java.vm.vendor"));
        j.put("version", System.getProperty("java.vm.version"));
        j.put("vm", System.getProperty("java.vm.name"));
        j.put("flags", ManagementFactory.getRuntimeMXBean().getInputArguments());
        s.put("jvm", j);
        KernelProvider.Selection sel = KernelProvider.selection();
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("kernels", sel.kernels().name());
        v.put("vector_bits", sel.vectorBits());
        v.put("fma", sel.fma());
        v.put("micro_kernel", sel.microKernel());
        v.put("reason", sel.reason());
        s.put("vector", v);
        Path probes = run.resolve("probes.json");
        if (Files.exists(probes)) s.put("roofs", Json.parse(Files.readString(probes)));

        Map<String, Map<String, Object>> memory = new LinkedHashMap<>();
        Path side = run.resolve("memory.jsonl");
        if (Files.exists(side)) {
            for (String line : Files.readAllLines(side)) {
                if (line.isBlank()) continue;
                Map<?, ?> o = (Map<?, ?>) Json.parse(line);
                @SuppressWarnings("unchecked") Map<String, Object> mo = (Map<String, Object>) o;
                memory.put(o.get("benchmark") + "|" + o.get("params"), mo);
            }
        }
        List<Object> results = new ArrayList<>();
        try (Stream<Path> files = Files.list(run)) {
            for (Path f : files.filter(p -> p.getFileName().toString().startsWith("jmh-") && p.toString().endsWith(".json")).sorted().toList()) {
                Object parsed = Json.parse(Files.readString(f));
                if (parsed instanceof List<?> l) for (Object o : l) results.add(figure((Map<?, ?>) o, memory));
            }
        }
        s.put("benchmarks", results);
        Object peers = Files.exists(run.resolve("peers.json")) ? Json.parse(Files.readString(run.resolve("peers.json"))) : null;
        if (peers != null) s.put("peers", peers);
        Files.writeString(run.resolve("summary.json"), Json.write(s) + "\n");
        return s;
    }

    /** One JMH result in natural units. */
    static Map<String, Object> figure(Map<?, ?> r, Map<String, Map<String, Object>> memory) {
        String bench = r.get("benchmark").toString();
        String cls = bench.substring(0, bench.lastIndexOf('.'));
        cls = cls.substring(cls.lastIndexOf('.') + 1);
        Map<?, ?> params = r.get("params") instanceof Map<?, ?> p ? p : Map.of();
        Map<?, ?> pm = (Map<?, ?>) r.get("primaryMetric");
        double score = ((Number) pm.get("score")).doubleValue();
        double err = pm.get("scoreError") instanceof Number e && Double.isFinite(e.doubleValue()) ? e.doubleValue() : 0;
        Map<?, ?> sec = r.get("secondaryMetrics") instanceof Map<?, ?> x ? x : Map.of();
        Map<String, Object> out = new LinkedHashMap<>();
        String method = bench.substring(bench.lastIndexOf('.') + 1);
        out.put("name", cls + "." + method + key(cls, params));
        out.put("benchmark", cls);
        out.put("method", method);
        out.put("params", params);
        int threads = params.get("threads") == null ? 1 : Integer.parseInt(params.get("threads").toString());
        out.put("threads", threads);
        // One fork's error cannot see fork-to-fork variation (JIT decisions, thread placement); the report needs to know.
        out.put("forks", r.get("forks") instanceof Number f ? f.intValue() : 1);
        double value, error, ai = Double.NaN;
        String unit;
        String kind;
        switch (cls) {
            case "GemmBenchmark" -> {
                String[] d = params.get("shape").toString().split("x");
                double mm = Double.parseDouble(d[0]), nn = Double.parseDouble(d[1]), kk = Double.parseDouble(d[2]);
                double flops = 2 * mm * nn * kk;
                value = flops / (score * 1e6);                       // score: ms/op
                error = value * err / score;
                unit = "GFLOPS";
                ai = flops / (4 * (mm * kk + kk * nn + mm * nn));
                kind = "gemm";
            }
            case "RowKernelBenchmark" -> {
                Map<?, ?> bytes = (Map<?, ?>) sec.get("bytes");
                double gbs = bytes == null ? Double.NaN : ((Number) bytes.get("score")).doubleValue() / 1e9;
                value = gbs;
                error = bytes == null ? 0 : value * err / Math.max(score, 1e-12);
                unit = "GB/s";
                ai = switch (params.get("kernel").toString()) {       // flops per byte, roughly: what the kernel computes per element
                    case "copy" -> 0.01;
                    case "add" -> 1.0 / 12;
                    case "layernorm" -> 7.0 / 8;
                    case "softmax" -> 20.0 / 8;
                    case "gelu" -> 26.0 / 8;
                    case "gelu_tanh" -> 22.0 / 8;
                    case "adamw" -> 16.0 / 28;
                    default -> Double.NaN;
                };
                kind = "elementwise";
            }
            case "AttentionBenchmark" -> {
                int n = Integer.parseInt(params.get("seq").toString());
                double fwd = 4.0 * 12 * n * (double) n * 64;           // QK^T and PV, 12 heads of 64
                double flops = params.get("mode").toString().equals("fwd") ? fwd : 3.5 * fwd; // backward recomputes: ~2.5x forward
                value = flops / (score * 1e6);
                error = value * err / score;
                unit = "GFLOPS";
                ai = fwd / (4.0 * 4 * 12 * n * 64);                    // q, k, v, o read or written once
                kind = switch (params.get("impl").toString()) {
                    case "fused" -> "attention";
                    case "gemms" -> "attention-gemms";
                    default -> "attention-naive";
                };
            }
            case "InferenceBenchmark", "TrainStepBenchmark" -> {
                int batch = params.get("batch") == null ? 128 : Integer.parseInt(params.get("batch").toString());
                value = batch / (score / 1000);
                error = value * err / score;
                unit = "img/s";
                kind = cls.equals("InferenceBenchmark") ? "inference" : "train";
                if (cls.equals("InferenceBenchmark")) out.put("gflops_per_image", round(inferenceGflops(params.get("model").toString())));
            }
            default -> {
                value = score;
                error = err;
                unit = pm.get("scoreUnit").toString();
                kind = "other";
            }
        }
        out.put("kind", kind);
        out.put("value", round(value));
        out.put("error", round(error));
        double rse = relativeStandardError(pm.get("rawData"));
        if (!Double.isNaN(rse)) out.put("rel_std_error", round(rse));
        out.put("unit", unit);
        if (!Double.isNaN(ai)) {
            out.put("intensity_flops_per_byte", round(ai));
            out.put("gflops", round(unit.equals("GB/s") ? value * ai : value));
        }
        out.put("jmh_score", score);
        out.put("jmh_unit", pm.get("scoreUnit"));
        if (sec.get("gc.alloc.rate.norm") instanceof Map<?, ?> g) out.put("alloc_bytes_per_op", round(((Number) g.get("score")).doubleValue()));
        Map<String, Object> mem = memory.get(cls + "|" + sidecarParams(cls, params));
        if (mem != null) {
            out.put("offheap_bytes", mem.get("offheap_bytes"));
            out.put("peak_rss_bytes", mem.get("peak_rss_bytes"));
        }
        return out;
    }

    /**
     * The standard error of the mean over all measured iterations (of every fork), relative to the mean. JMH's own
     * error is a 99.9% interval, which with three samples is 18x the standard error: too wide to compare runs with.
     */
    static double relativeStandardError(Object rawData) {
        List<Double> x = new ArrayList<>();
        if (rawData instanceof List<?> forks) for (Object f : forks) if (f instanceof List<?> it) for (Object v : it) if (v instanceof Number n) x.add(n.doubleValue());
        if (x.size() < 2) return Double.NaN;
        double mean = 0, ss = 0;
        for (double v : x) mean += v;
        mean /= x.size();
        for (double v : x) ss += (v - mean) * (v - mean);
        return mean == 0 ? Double.NaN : Math.sqrt(ss / (x.size() - 1) / x.size()) / Math.abs(mean);
    }

    /** What each benchmark's tear-down wrote as its params (see Sidecar). */
    static String sidecarParams(String cls, Map<?, ?> p) {
        return switch (cls) {
            case "GemmBenchmark" -> p.get("shape") + "," + p.get("threads") + "," + p.get("impl");
            case "RowKernelBenchmark" -> p.get("kernel") + "," + p.get("impl") + "," + p.get("threads");
            case "AttentionBenchmark" -> p.get("impl") + "," + p.get("mode") + "," + p.get("seq") + "," + p.get("threads");
            case "InferenceBenchmark" -> p.get("model") + "," + p.get("batch") + "," + p.get("threads");
            case "TrainStepBenchmark" -> p.get("dim") + "," + p.get("depth") + "," + p.get("batch") + "," + p.get("threads");
            default -> "";
        };
    }

    static String key(String cls, Map<?, ?> p) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<?, ?> e : new java.util.TreeMap<>(p).entrySet()) b.append(' ').append(e.getKey()).append('=').append(e.getValue());
        return b.toString();
    }

    /** FLOPs of one 224x224x3 forward of a preset, counting multiply-adds as 2. */
    static double inferenceGflops(String model) {
        ViTConfig c = ViTConfig.preset(model, 224, 224, 3, 1000);
        double t = c.tokens(), d = c.dim();
        double perBlock = 2 * t * (4 * d * d + 2 * d * c.mlpDim()) + 4 * t * t * d;
        return (2 * c.patches() * (double) c.patchDim() * d + c.depth() * perBlock + 2 * d * c.numClasses()) / 1e9;
    }

    static String git(String... args) {
        try {
            List<String> cmd = new ArrayList<>(List.of("git"));
            cmd.addAll(List.of(args));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            return p.waitFor() == 0 ? out : "";
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    static double round(double v) {
        return Double.isFinite(v) ? Math.round(v * 1000) / 1000.0 : v;
    }
}
