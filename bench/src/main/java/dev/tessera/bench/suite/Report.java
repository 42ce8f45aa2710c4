package dev.tessera.bench.suite;

import dev.tessera.vit.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code tessera bench report RUN_DIR [--baseline OTHER_RUN_DIR]}: one self-contained HTML page (inline SVG, no
 * external assets) with the roofline, GEMM by shape and threads, model throughput beside the peers, memory per
 * benchmark, and with a baseline the ratio of every benchmark, regressions beyond run-to-run error marked.
 */
public final class Report {
    /** A change is called a regression (or faster) when it exceeds the run-to-run noise by more than this. */
    static final double MARGIN = 0.05;
    /**
     * Run-to-run noise assumed for a figure measured in a single fork, or without an error estimate. JMH's error
     * comes from the iterations of one fork and misses what changes between forks (JIT decisions, thread placement,
     * neighbours on a shared machine): five quick runs of the same build on a shared 2-core VM put a few benchmarks
     * up to 1.3x apart (ViT-S/16 at batch 1: 74 vs 89 ms, with 2-11% in-fork error), most within 1.15x.
     */
    static final double FORK_NOISE = 0.20;

    private Report() {}

    static void main(List<String> a) throws IOException {
        if (a.isEmpty() || a.get(0).startsWith("--")) throw new IllegalArgumentException("usage: tessera bench report RUN_DIR [--baseline OTHER_RUN_DIR]");
        Path run = Path.of(a.get(0));
        String base = Suite.option(a, "--baseline", null);
        Path out = write(run, base == null ? null : Path.of(base));
        System.out.println("report: " + out);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> load(Path run) throws IOException {
        Path f = run.resolve("summary.json");
        if (!Files.isRegularFile(f)) throw new IOException(run + ": no summary.json (not a 'tessera bench' run directory)");
        Object o = Json.parse(Files.readString(f));
        if (!(o instanceof Map<?, ?>)) throw new IOException(f + ": not a JSON object");
        return (Map<String, Object>) o;
    }

    public static Path write(Path run, Path baseline) throws IOException {
        Map<String, Object> s = load(run);
        Map<String, Object> b = baseline == null ? null : load(baseline);
        List<Map<String, Object>> bench = list(s.get("benchmarks"));
        List<Map<String, Object>> peers = list(s.get("peers"));
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Tessera benchmark report</title><style>")
                .append("body{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}table{border-collapse:collapse;font-size:13px}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}")
                .append(".bad{background:#fdd}.good{background:#dfd}.note{color:#555;font-size:13px}svg{background:#fff;border:1px solid #ddd}")
                .append("</style></head><body>");
        Map<String, Object> machine = map(s.get("machine")), jvm = map(s.get("jvm")), vec = map(s.get("vector"));
        h.append("<h1>Tessera benchmark report</h1><p class=\"note\">").append(esc(str(machine.get("cpu")))).append(", ")
                .append(machine.get("cores")).append(" cores, L2 ").append(kib(machine.get("l2_bytes"))).append(", L3 ").append(kib(machine.get("l3_bytes")))
                .append("<br>JVM ").append(esc(str(jvm.get("vendor")))).append(' ').append(esc(str(jvm.get("version"))))
                .append("; kernels ").append(esc(str(vec.get("kernels")))).append(", ").append(vec.get("vector_bits")).append("-bit vectors, FMA ")
                .append(vec.get("fma")).append("<br>commit ").append(esc(str(s.get("git_commit")))).append(Boolean.TRUE.equals(s.get("git_dirty")) ? " (with local changes)" : "")
                .append(", ").append(esc(str(s.get("date")))).append("</p>");

        int cores = ((Number) machine.getOrDefault("cores", 1)).intValue();
        double[] roof = roofs(s, cores), roof1 = roofs(s, 1);
        h.append("<h2>Roofline</h2>").append(roofline(bench, roof, roof1, cores));
        h.append("<p class=\"note\">").append(rooflineVerdict(bench, roof, cores)).append("</p>");
        h.append("<h2>GEMM by shape and threads</h2>").append(gemmChart(bench, peers));
        h.append("<h2>Models</h2>").append(modelChart(bench, peers));
        h.append("<h2>Memory</h2>").append(memoryTable(bench));
        if (b != null) h.append("<h2>Against the baseline</h2>").append(baselineTable(bench, list(b.get("benchmarks")), baseline));
        h.append("<h2>All figures</h2>").append(figureTable(bench, peers));
        h.append("</body></html>\n");
        Path out = run.resolve("report.html");
        Files.writeString(out, h.toString());
        return out;
    }

    // ---------------------------------------------------------------- charts

    /** {FMA peak GFLOPS, copy GB/s} at {@code threads}, NaN when not measured. */
    static double[] roofs(Map<String, Object> s, int threads) {
        Map<String, Object> r = map(s.get("roofs"));
        double peak = Double.NaN, bw = Double.NaN;
        for (Map<String, Object> m : list(r.get("fma_peak"))) if (num(m.get("threads")) == threads) peak = num(m.get("gflops"));
        for (Map<String, Object> m : list(r.get("copy_bandwidth"))) if (num(m.get("threads")) == threads) bw = num(m.get("gb_per_s"));
        return new double[] {peak, bw};
    }

    static String roofline(List<Map<String, Object>> bench, double[] roof, double[] roof1, int cores) {
        int w = 760, hgt = 420, l = 60, r = 20, t = 20, bot = 50;
        double x0 = Math.log10(0.01), x1 = Math.log10(1000), top = Double.isFinite(roof[0]) ? roof[0] * 2 : 1000, y0 = Math.log10(0.5), y1 = Math.log10(top);
        StringBuilder g = new StringBuilder(svgOpen(w, hgt));
        java.util.function.DoubleUnaryOperator X = v -> l + (Math.log10(v) - x0) / (x1 - x0) * (w - l - r);
        java.util.function.DoubleUnaryOperator Y = v -> hgt - bot - (Math.log10(Math.max(v, 0.5)) - y0) / (y1 - y0) * (hgt - t - bot);
        for (double v = 0.01; v <= 1000; v *= 10) g.append(line(X.applyAsDouble(v), t, X.applyAsDouble(v), hgt - bot, "#eee")).append(text(X.applyAsDouble(v), hgt - bot + 16, fmt(v), "middle"));
        for (double v = 1; v <= top; v *= 10) g.append(line(l, Y.applyAsDouble(v), w - r, Y.applyAsDouble(v), "#eee")).append(text(l - 6, Y.applyAsDouble(v) + 4, fmt(v), "end"));
        g.append(text((l + w - r) / 2.0, hgt - 12, "arithmetic intensity (flops per byte)", "middle"));
        g.append("<text x=\"14\" y=\"").append(hgt / 2).append("\" transform=\"rotate(-90 14 ").append(hgt / 2).append(")\" text-anchor=\"middle\" font-size=\"12\">GFLOPS</text>");
        for (double[] rf : new double[][] {roof, roof1}) {
            if (!Double.isFinite(rf[0]) || !Double.isFinite(rf[1])) continue;
            StringBuilder pts = new StringBuilder();
            for (double ai = 0.01; ai <= 1000; ai *= 1.25) pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", X.applyAsDouble(ai), Y.applyAsDouble(Math.min(rf[0], ai * rf[1]))));
            g.append("<polyline fill=\"none\" stroke=\"").append(rf == roof ? "#333" : "#999").append("\" stroke-width=\"2\"")
                    .append(rf == roof ? "" : " stroke-dasharray=\"6 4\"").append(" points=\"").append(pts).append("\"/>");
        }
        if (Double.isFinite(roof[0])) g.append(text(w - r - 4, Y.applyAsDouble(roof[0]) - 6, String.format(Locale.ROOT, "FMA peak %.0f GFLOPS, copy %.1f GB/s (%d threads)", roof[0], roof[1], cores), "end"));
        if (Double.isFinite(roof1[0])) g.append(text(w - r - 4, Y.applyAsDouble(roof1[0]) + 14, String.format(Locale.ROOT, "1 thread: %.0f GFLOPS, %.1f GB/s", roof1[0], roof1[1]), "end"));
        int points = 0;
        for (Map<String, Object> m : bench) {
            if (!m.containsKey("intensity_flops_per_byte") || num(m.get("threads")) != cores) continue;
            double ai = num(m.get("intensity_flops_per_byte")), gf = num(m.get("gflops"));
            if (!(ai > 0) || !(gf > 0)) continue;
            String kind = str(m.get("kind")), color = switch (kind) {
                case "gemm" -> "#1f77b4";
                case "elementwise" -> "#2ca02c";
                case "attention" -> "#d62728";
                default -> "#9467bd";
            };
            double cx = X.applyAsDouble(ai), cy = Y.applyAsDouble(gf);
            g.append(String.format(Locale.ROOT, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"><title>%s: %.1f GFLOPS at %.2f flops/byte</title></circle>",
                    cx, cy, color, esc(str(m.get("name"))), gf, ai));
            g.append(text(cx + 7, cy - 4, label(m), "start"));
            points++;
        }
        g.append(legend(l + 10, t + 10, new String[] {"GEMM", "elementwise", "fused attention", "other"}, new String[] {"#1f77b4", "#2ca02c", "#d62728", "#9467bd"}));
        g.append("</svg>");
        return points == 0 ? "<p>No kernel benchmarks with an arithmetic intensity in this run.</p>" + g : g.toString();
    }

    static String rooflineVerdict(List<Map<String, Object>> bench, double[] roof, int cores) {
        StringBuilder b = new StringBuilder();
        double bestGemm = 0;
        for (Map<String, Object> m : bench) if ("gemm".equals(m.get("kind")) && num(m.get("threads")) == cores) bestGemm = Math.max(bestGemm, num(m.get("value")));
        if (bestGemm > 0 && Double.isFinite(roof[0])) {
            double f = bestGemm / roof[0];
            b.append(String.format(Locale.ROOT, "GEMM at %d threads reaches %.0f GFLOPS, %.0f%% of the measured FMA roof: ", cores, bestGemm, 100 * f))
                    .append(f >= 0.85 ? "within 15% of it." : "<b>not within 15% of it</b>.").append(' ');
        }
        List<String> far = new ArrayList<>();
        for (Map<String, Object> m : bench) {
            if (!"elementwise".equals(m.get("kind")) || num(m.get("threads")) != cores || !Double.isFinite(roof[1])) continue;
            double f = num(m.get("value")) / roof[1];
            if (f < 0.7) far.add(String.format(Locale.ROOT, "%s %.0f%%", map(m.get("params")).get("kernel"), 100 * f));
        }
        if (Double.isFinite(roof[1])) {
            b.append(far.isEmpty() ? "Every elementwise kernel runs at 70% or more of the copy bandwidth."
                    : "Elementwise kernels below 70% of the copy bandwidth: <b>" + String.join(", ", far) + "</b> (compute-bound there, not memory-bound).");
        }
        return b.toString();
    }

    static String gemmChart(List<Map<String, Object>> bench, List<Map<String, Object>> peers) {
        List<String> labels = new ArrayList<>();
        List<double[]> values = new ArrayList<>();
        for (Map<String, Object> m : bench) {
            if (!"gemm".equals(m.get("kind"))) continue;
            String shape = str(map(m.get("params")).get("shape"));
            int threads = (int) num(m.get("threads"));
            double peer = Double.NaN;
            for (Map<String, Object> p : peers) if ("GemmBenchmark".equals(p.get("benchmark")) && shape.equals(p.get("shape")) && num(p.get("threads")) == threads) peer = num(p.get("value"));
            labels.add(shape + " " + threads + "T");
            values.add(new double[] {num(m.get("value")), peer});
        }
        return bars(labels, values, new String[] {"Tessera", "OpenBLAS (numpy)"}, "GFLOPS");
    }

    static String modelChart(List<Map<String, Object>> bench, List<Map<String, Object>> peers) {
        List<String> labels = new ArrayList<>();
        List<double[]> values = new ArrayList<>();
        for (Map<String, Object> m : bench) {
            String kind = str(m.get("kind"));
            if (!kind.equals("inference") && !kind.equals("train")) continue;
            Map<String, Object> p = map(m.get("params"));
            int threads = (int) num(m.get("threads"));
            double torch = Double.NaN, ort = Double.NaN;
            String label;
            if (kind.equals("inference")) {
                label = p.get("model") + " batch " + p.get("batch") + " " + threads + "T";
                for (Map<String, Object> q : peers) {
                    if (!"InferenceBenchmark".equals(q.get("benchmark")) || !str(p.get("model")).equals(q.get("model"))
                            || num(q.get("batch")) != Double.parseDouble(str(p.get("batch"))) || num(q.get("threads")) != threads) continue;
                    if (str(q.get("peer")).startsWith("pytorch")) torch = num(q.get("value"));
                    else ort = num(q.get("value"));
                }
            } else {
                String method = str(m.get("method"));
                label = (method.equals("eval") ? "eval d" : "train step d") + p.get("dim") + " " + threads + "T";
                for (Map<String, Object> q : peers) {
                    if ("TrainStepBenchmark".equals(q.get("benchmark")) && method.equals(q.get("method")) && str(p.get("dim")).equals(str(q.get("dim")))
                            && num(q.get("threads")) == threads) torch = num(q.get("value"));
                }
            }
            labels.add(label);
            values.add(new double[] {num(m.get("value")), torch, ort});
        }
        return bars(labels, values, new String[] {"Tessera", "PyTorch", "ONNX Runtime Java"}, "img/s");
    }

    /** Grouped horizontal bars, one row per label, one bar per series (NaN: absent), value printed at the end. */
    static String bars(List<String> labels, List<double[]> values, String[] series, String unit) {
        if (labels.isEmpty()) return "<p>No such benchmarks in this run.</p>";
        String[] colors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"};
        double max = 0;
        for (double[] v : values) for (double x : v) if (Double.isFinite(x)) max = Math.max(max, x);
        int bh = 12, gap = 10, l = 210, w = 760;
        StringBuilder g = new StringBuilder();
        int y = 30;
        for (int i = 0; i < labels.size(); i++) {
            double[] v = values.get(i);
            g.append(text(l - 8, y + bh, labels.get(i), "end"));
            int k = 0;
            for (int s = 0; s < v.length; s++) {
                if (!Double.isFinite(v[s])) continue;
                double len = max > 0 ? v[s] / max * (w - l - 150) : 0;   // room for "157.1 (Tessera 0.73x)"
                g.append(String.format(Locale.ROOT, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s: %.2f %s</title></rect>",
                        l, y + k * bh, Math.max(1, len), bh - 2, colors[s % colors.length], esc(series[s]), v[s], unit));
                String ratio = s > 0 && Double.isFinite(v[0]) ? String.format(Locale.ROOT, " (Tessera %.2fx)", v[0] / v[s]) : "";
                g.append(text(l + len + 4, y + k * bh + bh - 3, String.format(Locale.ROOT, "%.1f%s", v[s], ratio), "start"));
                k++;
            }
            y += Math.max(1, k) * bh + gap;
        }
        g.append(legend(l, 8, series, colors)).append("</svg>");
        return svgOpen(w, y + 10) + g;
    }

    // ---------------------------------------------------------------- tables

    static String memoryTable(List<Map<String, Object>> bench) {
        StringBuilder t = new StringBuilder("<table><tr><th class=\"l\">benchmark</th><th>heap bytes/op</th><th>engine off-heap MB</th><th>peak RSS MB</th></tr>");
        for (Map<String, Object> m : bench) {
            t.append("<tr><td class=\"l\">").append(esc(str(m.get("name")))).append("</td><td>").append(m.containsKey("alloc_bytes_per_op") ? String.format(Locale.ROOT, "%.0f", num(m.get("alloc_bytes_per_op"))) : "")
                    .append("</td><td>").append(m.containsKey("offheap_bytes") ? String.format(Locale.ROOT, "%.1f", num(m.get("offheap_bytes")) / 1e6) : "")
                    .append("</td><td>").append(m.containsKey("peak_rss_bytes") ? String.format(Locale.ROOT, "%.0f", num(m.get("peak_rss_bytes")) / 1e6) : "").append("</td></tr>");
        }
        return t.append("</table>").toString();
    }

    static String figureTable(List<Map<String, Object>> bench, List<Map<String, Object>> peers) {
        StringBuilder t = new StringBuilder("<table><tr><th class=\"l\">benchmark</th><th>figure</th><th>&plusmn;</th><th class=\"l\">unit</th></tr>");
        for (Map<String, Object> m : bench) {
            t.append(String.format(Locale.ROOT, "<tr><td class=\"l\">%s</td><td>%.2f</td><td>%.2f</td><td class=\"l\">%s</td></tr>", esc(str(m.get("name"))),
                    num(m.get("value")), num(m.get("error")), esc(str(m.get("unit")))));
        }
        for (Map<String, Object> p : peers) {
            Map<String, Object> rest = new LinkedHashMap<>(p);
            rest.remove("value");
            rest.remove("unit");
            t.append(String.format(Locale.ROOT, "<tr><td class=\"l\">peer %s</td><td>%.2f</td><td></td><td class=\"l\">%s</td></tr>", esc(rest.toString()), num(p.get("value")), esc(str(p.get("unit")))));
        }
        return t.append("</table>").toString();
    }

    /** Every benchmark present in both runs: ratio new/old (all figures are higher-is-better), regressions marked. */
    static String baselineTable(List<Map<String, Object>> bench, List<Map<String, Object>> base, Path baseDir) {
        Map<String, Map<String, Object>> old = new LinkedHashMap<>();
        for (Map<String, Object> m : base) old.put(str(m.get("name")), m);
        StringBuilder t = new StringBuilder("<table><tr><th class=\"l\">benchmark</th><th>this run</th><th>baseline</th><th>ratio</th><th class=\"l\">verdict</th></tr>");
        int regressions = 0, improvements = 0, compared = 0, unknown = 0;
        String worst = null;
        double worstRatio = Double.MAX_VALUE;
        for (Map<String, Object> m : bench) {
            Map<String, Object> o = old.get(str(m.get("name")));
            if (o == null) continue;
            compared++;
            double v = num(m.get("value")), ov = num(o.get("value")), ratio = v / ov;
            double noise = noise(m, o);
            if (forks(m) < 2 || forks(o) < 2) unknown++;
            String verdict = "", cls = "";
            if (1 - ratio > noise + MARGIN) {
                verdict = "regression";
                cls = " class=\"bad\"";
                regressions++;
                if (ratio < worstRatio) { worstRatio = ratio; worst = str(m.get("name")); }
            } else if (ratio - 1 > noise + MARGIN) {
                verdict = "faster";
                cls = " class=\"good\"";
                improvements++;
            }
            t.append(String.format(Locale.ROOT, "<tr%s><td class=\"l\">%s</td><td>%.2f</td><td>%.2f</td><td>%.3f</td><td class=\"l\">%s</td></tr>", cls,
                    esc(str(m.get("name"))), v, ov, ratio, verdict));
        }
        t.append("</table>");
        if (unknown > 0) t.append("<p class=\"note\">").append(unknown).append(" benchmark(s) measured in a single fork (or without an error estimate) in one of the runs: ")
                .append("JMH's error cannot see fork-to-fork variation, so their noise was taken as at least ").append(Math.round(FORK_NOISE * 100))
                .append("% of the baseline (measured between runs of one build on a shared VM). Run with <code>--forks 3</code> to see smaller changes.</p>");
        String line = compared == 0 ? "No benchmark in common with " + esc(baseDir.toString()) + "."
                : regressions == 0 ? String.format("Verdict: no regression of more than 5%% beyond noise in %d benchmarks (%d faster).", compared, improvements)
                : String.format(Locale.ROOT, "Verdict: <b>%d regression%s</b> of more than 5%% beyond noise in %d benchmarks; worst %s at %.2fx.", regressions,
                        regressions > 1 ? "s" : "", compared, esc(worst), worstRatio);
        return "<p id=\"verdict\">" + line + "</p>" + t;
    }

    // ---------------------------------------------------------------- helpers

    /**
     * The relative change two runs of a benchmark can show by chance: three combined standard errors of the means,
     * and at least {@link #FORK_NOISE} when either run measured a single fork. Summaries without standard errors
     * (older runs) fall back to the sum of JMH's 99.9% intervals.
     */
    static double noise(Map<String, Object> run, Map<String, Object> baseline) {
        double r1 = num(run.get("rel_std_error")), r0 = num(baseline.get("rel_std_error"));
        double stat;
        if (r1 >= 0 && r0 >= 0) stat = 3 * Math.hypot(r1, r0);
        else {
            double e1 = num(run.get("error")), e0 = num(baseline.get("error"));
            stat = (Math.max(e1, 0) + Math.max(e0, 0)) / num(baseline.get("value"));
            if (!(e1 > 0 && e0 > 0)) stat = Math.max(stat, FORK_NOISE);
        }
        return forks(run) < 2 || forks(baseline) < 2 ? Math.max(stat, FORK_NOISE) : stat;
    }

    static int forks(Map<String, Object> m) {
        return m.get("forks") instanceof Number f ? f.intValue() : 1;
    }

    static String label(Map<String, Object> m) {
        Map<String, Object> p = map(m.get("params"));
        return switch (str(m.get("kind"))) {
            case "gemm" -> str(p.get("shape"));
            case "elementwise" -> str(p.get("kernel"));
            default -> "attn " + p.get("mode") + " N=" + p.get("seq");
        };
    }

    static String svgOpen(int w, int h) {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h + "\" font-family=\"sans-serif\">";
    }

    static String line(double x1, double y1, double x2, double y2, String c) {
        return String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x1, y1, x2, y2, c);
    }

    static String text(double x, double y, String s, String anchor) {
        return String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"%s\">%s</text>", x, y, anchor, esc(s));
    }

    static String legend(int x, int y, String[] names, String[] colors) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < names.length; i++) {
            b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>", x + i * 150, y, colors[i % colors.length]))
                    .append(text(x + i * 150 + 14, y + 9, names[i], "start"));
        }
        return b.toString();
    }

    static String fmt(double v) {
        return v >= 1 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    static String kib(Object bytes) {
        return bytes instanceof Number n ? (n.longValue() >> 10) + " KiB" : "?";
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    static String str(Object o) { return o == null ? "" : o.toString(); }

    static double num(Object o) {
        if (o instanceof Number n) return n.doubleValue();
        try {
            return o == null ? Double.NaN : Double.parseDouble(o.toString());
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) { return o instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of(); }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> list(Object o) {
        List<Map<String, Object>> out = new ArrayList<>();
        if (o instanceof List<?> l) for (Object x : l) if (x instanceof Map<?, ?>) out.add((Map<String, Object>) x);
        return out;
    }
}
