package dev.tessera.bench;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.bench.suite.Report;
import dev.tessera.bench.suite.Summary;
import dev.tessera.vit.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The suite's figures and page from a synthetic run: natural units, non-empty charts, regressions found and not invented. */
class ReportTest {
    @TempDir Path dir;

    /** A run directory as 'tessera bench' leaves it: probes, one JMH JSON file, the memory side file. */
    Path run(String name, double gemmMs, double inferMs) throws Exception {
        return run(name, gemmMs, inferMs, 1);
    }

    Path run(String name, double gemmMs, double inferMs, int forks) throws Exception {
        Path r = Files.createDirectories(dir.resolve(name));
        Files.writeString(r.resolve("probes.json"), "{\"fma_peak\": [{\"threads\": 1, \"gflops\": 115}, {\"threads\": 2, \"gflops\": 230}],"
                + " \"copy_bandwidth\": [{\"threads\": 1, \"gb_per_s\": 40}, {\"threads\": 2, \"gb_per_s\": 50}]}");
        String jmh = "[" + result("GemmBenchmark.gemm", "{\"shape\": \"1024x1024x1024\", \"threads\": \"2\", \"impl\": \"simd\"}", gemmMs, "ms/op", "", forks)
                + "," + result("RowKernelBenchmark.run", "{\"kernel\": \"copy\", \"impl\": \"simd\", \"cols\": \"768\", \"rows\": \"16384\", \"threads\": \"2\"}", 1000, "ops/s",
                ", \"bytes\": {\"score\": 4.5e10, \"scoreError\": 1e9, \"scoreUnit\": \"#/s\"}", forks)
                + "," + result("InferenceBenchmark.classify", "{\"model\": \"b/16\", \"batch\": \"1\", \"threads\": \"2\", \"weights\": \"random\"}", inferMs, "ms/op", "", forks) + "]";
        Files.writeString(r.resolve("jmh-1-all.json"), jmh);
        Files.writeString(r.resolve("memory.jsonl"), "{\"benchmark\": \"GemmBenchmark\", \"params\": \"1024x1024x1024,2,simd\", \"offheap_bytes\": 12582912, \"peak_rss_bytes\": 90000000}\n");
        Files.writeString(r.resolve("peers.json"), "[{\"peer\": \"onnxruntime-java-1.22\", \"benchmark\": \"InferenceBenchmark\", \"model\": \"b/16\", \"batch\": 1, \"threads\": 2, \"value\": 5.5, \"unit\": \"img/s\"}]");
        Summary.write(r);
        return r;
    }

    /** One JMH result: every fork measured three iterations at score -1%, score, +1%. */
    static String result(String bench, String params, double score, String unit, String extraSecondary, int forks) {
        StringBuilder raw = new StringBuilder("[");
        for (int f = 0; f < forks; f++) raw.append(f > 0 ? "," : "").append("[").append(score * 0.99).append(",").append(score).append(",").append(score * 1.01).append("]");
        raw.append("]");
        return "{\"benchmark\": \"dev.tessera.bench." + bench + "\", \"mode\": \"avgt\", \"forks\": " + forks + ", \"params\": " + params
                + ", \"primaryMetric\": {\"score\": " + score + ", \"scoreError\": " + score * 0.01 + ", \"scoreUnit\": \"" + unit + "\", \"rawData\": " + raw
                + "}, \"secondaryMetrics\": {\"gc.alloc.rate.norm\": {\"score\": 96.0}" + extraSecondary + "}}";
    }

    @SuppressWarnings("unchecked")
    @Test
    void figuresAreInNaturalUnits() throws Exception {
        Map<String, Object> s = (Map<String, Object>) Json.parse(Files.readString(run("a", 10.0, 200.0).resolve("summary.json")));
        List<Map<String, Object>> b = (List<Map<String, Object>>) s.get("benchmarks");
        assertEquals(2.0 * 1024 * 1024 * 1024 / 10e6, ((Number) b.get(0).get("value")).doubleValue(), 0.01, "GEMM GFLOPS");
        assertEquals(45.0, ((Number) b.get(1).get("value")).doubleValue(), 1e-9, "copy GB/s");
        assertEquals(5.0, ((Number) b.get(2).get("value")).doubleValue(), 1e-9, "img/s");
        assertEquals(12582912L, ((Number) b.get(0).get("offheap_bytes")).longValue());
        assertEquals(96.0, ((Number) b.get(0).get("alloc_bytes_per_op")).doubleValue());
        for (String k : new String[] {"machine", "jvm", "vector", "git_commit", "date", "roofs", "peers"}) assertTrue(s.containsKey(k), k);
    }

    @Test
    void everyChartHasMarksAndRegressionsAreFlagged() throws Exception {
        Path a = run("a", 10.0, 200.0), same = run("same", 10.05, 199.0), slow = run("slow", 20.0, 200.0);
        String html = Files.readString(Report.write(a, same));
        Matcher svg = Pattern.compile("<svg.*?</svg>", Pattern.DOTALL).matcher(html);
        int charts = 0;
        while (svg.find()) {
            charts++;
            assertTrue(svg.group().contains("class=\"point\"") || svg.group().contains("class=\"bar\""), "an empty chart: " + svg.group().substring(0, 80));
        }
        assertEquals(3, charts, "roofline, GEMM and models");
        assertFalse(html.contains("src=\"http") || html.contains("href=\"http"), "the page must be self-contained");
        assertTrue(html.contains("no regression of more than 5% beyond noise"), "a same-speed baseline must not report regressions");
        assertTrue(html.contains("Tessera 0.91x"), "the model chart shows the ratio to ONNX Runtime");
        String bad = Files.readString(Report.write(a, slow));
        assertTrue(bad.contains("1 regression</b>") || bad.contains("faster"), bad.substring(bad.indexOf("verdict")));
        String worse = Files.readString(Report.write(slow, a));
        assertTrue(worse.contains("<b>1 regression</b>") && worse.contains("GemmBenchmark"), worse.substring(worse.indexOf("verdict")));
    }

    @Test
    void singleForkRunsNeedALargerChangeThanMultiForkRuns() throws Exception {
        // 0.8x with a 1% in-fork spread: beyond noise only when several forks measured it; one fork cannot see
        // fork-to-fork variation, so the report assumes Report.FORK_NOISE instead.
        String one = Files.readString(Report.write(run("one-slow", 12.5, 200.0, 1), run("one", 10.0, 200.0, 1)));
        assertTrue(one.contains("no regression of more than 5% beyond noise") && one.contains("single fork"), one.substring(one.indexOf("verdict")));
        String three = Files.readString(Report.write(run("three-slow", 12.5, 200.0, 3), run("three", 10.0, 200.0, 3)));
        assertTrue(three.contains("<b>1 regression</b>") && three.contains("GemmBenchmark"), three.substring(three.indexOf("verdict")));
        assertFalse(three.contains("single fork"), "no single-fork note when every run had several forks");
    }
}
