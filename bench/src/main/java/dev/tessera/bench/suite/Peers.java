package dev.tessera.bench.suite;

import dev.tessera.vit.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code tessera bench peers [--out RUN_DIR]}: what a user would pick instead, on the same machine and the same
 * shapes, written to RUN_DIR/peers.json and merged into its summary.json so the report shows ratios measured in one
 * session. Each peer runs when it is installed and is skipped with one line when not: OpenBLAS through numpy
 * (GEMM), PyTorch (ViT-B/16 inference, the training-step models), ONNX Runtime Java (ViT-B/16, via
 * bench/peers/ort_peer.sh).
 */
final class Peers {
    private Peers() {}

    static void main(List<String> a) throws IOException, InterruptedException {
        String given = Suite.option(a, "--out", null);
        Path run = Path.of(given != null ? given : latestRun());
        Path root = Path.of(System.getProperty("tessera.root", "."));
        Path peers = root.resolve("bench/peers");
        int cores = Runtime.getRuntime().availableProcessors();
        List<Object> out = new ArrayList<>();
        String py = "/usr/bin/python3";
        if (works(py, "-c", "import numpy")) {
            for (int t : new int[] {1, cores}) {
                lines(out, py, peers.resolve("numpy_sgemm.py").toString(), Integer.toString(t), String.join(",",
                        "197x2304x768", "197x768x768", "197x3072x768", "197x768x3072", "1576x2304x768", "1024x1024x1024", "6400x576x192"));
                if (cores == 1) break;
            }
        } else {
            System.out.println("peers: numpy not installed (apt-get install python3-numpy libopenblas0-pthread): no GEMM peer");
        }
        if (works(py, "-c", "import torch, torchvision")) {
            String script = peers.resolve("torch_vit.py").toString();
            List<String[]> runs = List.of(new String[] {"infer", "1"}, new String[] {"infer", "8"},
                    new String[] {"train", "192", "3", "768"}, new String[] {"train", "128", "4", "256"});
            for (String[] r : runs) out.addAll(bestTorch(py, script, cores, r));
        } else {
            System.out.println("peers: PyTorch not installed (apt-get install python3-torch python3-torchvision): no PyTorch peer");
        }
        Path ort = peers.resolve("ort_peer.sh");
        if (works(py, "-c", "import torch, torchvision, onnx") && Files.isExecutable(ort)) {
            List<String> cmd = List.of("bash", ort.toString(), cores > 1 ? "1," + cores : "1", "1,8");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(false);
            pb.environment().put("ENGINES", "ort");
            for (Object o : capture(pb)) {
                @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) o;
                if (!m.containsKey("img_per_s")) continue;
                out.add(Map.of("peer", "onnxruntime-java-1.22", "benchmark", "InferenceBenchmark", "model", "b/16", "batch", m.get("batch"),
                        "threads", m.get("threads"), "value", m.get("img_per_s"), "unit", "img/s"));
            }
        } else {
            System.out.println("peers: ONNX Runtime peer needs python3-onnx and PyTorch to export the model: skipped");
        }
        Files.createDirectories(run);
        Files.writeString(run.resolve("peers.json"), Json.write(out) + "\n");
        Summary.write(run);
        System.out.println("peers: " + out.size() + " figures in " + run.resolve("peers.json") + ", merged into summary.json");
    }

    /**
     * PyTorch at its best thread setting, as a careful user would tune it: intra-op threads x OpenBLAS threads,
     * (1, cores) and (cores, 1); per figure the faster one is kept.
     */
    static List<Object> bestTorch(String py, String script, int cores, String[] args) throws IOException, InterruptedException {
        Map<String, Map<String, Object>> best = new java.util.LinkedHashMap<>();
        int[][] settings = cores > 1 ? new int[][] {{1, cores}, {cores, 1}} : new int[][] {{1, 1}};
        for (int[] st : settings) {
            List<String> cmd = new ArrayList<>(List.of(py, script, args[0], Integer.toString(st[0])));
            cmd.addAll(List.of(args).subList(1, args.length));
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().put("OPENBLAS_NUM_THREADS", Integer.toString(st[1]));
            pb.environment().put("OMP_NUM_THREADS", Integer.toString(st[0]));
            System.out.println("peers: " + String.join(" ", cmd) + " (OpenBLAS threads " + st[1] + ")");
            for (Object o : capture(pb)) {
                @SuppressWarnings("unchecked") Map<String, Object> m = new java.util.LinkedHashMap<>((Map<String, Object>) o);
                m.put("threads", cores);                      // the cores it was given, whichever way they were split
                m.put("torch_threads", st[0]);
                m.put("blas_threads", st[1]);
                String key = m.get("benchmark") + "|" + m.get("method") + "|" + m.get("batch") + "|" + m.get("dim");
                Map<String, Object> prev = best.get(key);
                if (prev == null || ((Number) m.get("value")).doubleValue() > ((Number) prev.get("value")).doubleValue()) best.put(key, m);
            }
        }
        return new ArrayList<>(best.values());
    }

    static String latestRun() throws IOException {
        Path dir = Path.of("bench-runs");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("no bench-runs/ here: run 'tessera bench' first or pass --out RUN_DIR");
        try (var s = Files.list(dir)) {
            return s.filter(Files::isDirectory).map(Path::toString).sorted().reduce((x, y) -> y)
                    .orElseThrow(() -> new IllegalArgumentException("bench-runs/ is empty: run 'tessera bench' first"));
        }
    }

    static boolean works(String... cmd) {
        try {
            return new ProcessBuilder(cmd).redirectErrorStream(true).start().waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static void lines(List<Object> out, String... cmd) throws IOException, InterruptedException {
        System.out.println("peers: " + String.join(" ", cmd));
        out.addAll(capture(new ProcessBuilder(cmd)));
    }

    /** The JSON objects a peer prints, one per line; other lines go to our output. */
    static List<Object> capture(ProcessBuilder pb) throws IOException, InterruptedException {
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        // A peer runs at its best on this CPU: an inherited OPENBLAS_CORETYPE=Haswell (set on some machines for
        // reproducibility) pins OpenBLAS to its AVX2 kernels, 94 instead of 190 GFLOPS on a Zen 5 core.
        pb.environment().remove("OPENBLAS_CORETYPE");
        pb.environment().remove("OPENBLAS_L2_SIZE");
        Process p = pb.start();
        List<Object> got = new ArrayList<>();
        for (String line : new String(p.getInputStream().readAllBytes()).split("\n")) {
            String l = line.trim();
            if (l.startsWith("{")) {
                try {
                    got.add(Json.parse(l));
                    System.out.println("  " + l);
                } catch (IllegalArgumentException e) {
                    System.out.println("  (unparsed) " + l);
                }
            }
        }
        if (p.waitFor() != 0) System.out.println("peers: " + String.join(" ", pb.command()) + " exited with " + p.exitValue());
        return got;
    }
}
