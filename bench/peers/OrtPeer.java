import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.vit.io.SafeTensors;
import dev.tessera.vit.model.VisionTransformer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/**
 * Tessera and ONNX Runtime Java side by side on the same ViT: the logits of both against torchvision's reference, and
 * img/s with one method for both (warm-up, then the best of 3 repetitions). Run by ort_peer.sh, one engine per JVM.
 * Args: tessera|ort weights.safetensors|model.onnx io.safetensors threads batches
 *
 * <p>{@code both weights.safetensors io.safetensors threads batches model.onnx [rounds]} loads both engines into one JVM
 * and times them in alternating rounds (who goes first alternates too), so that both see the same phases of the
 * host: on these shared machines a whole engine's run, minutes after the other's, moved by 10-20% (2026-12-02: one
 * JVM's ViT-B/16 5-s medians went between 127-135 and 150-160 ms and back). Prints each round's ratio and their
 * median per batch. Caveat: once Tessera's packed weights sit in transparent huge pages (LargePages), ORT in the same
 * JVM ran slower (two threads, batch 1, 4 rounds: 6.67 and 6.09 img/s with Tessera's huge pages off, 5.15 and 5.83
 * with them on), so this mode then flatters Tessera; for a verdict use separate JVMs ({@code ENGINES="ort tessera
 * ort tessera"}).
 */
public class OrtPeer {
    public static void main(String[] a) throws Exception {
        String engine = a[0];
        Path model = Path.of(a[1]);
        int threads = Integer.parseInt(a[3]);
        float[] x, ref;
        int[] xs;
        try (SafeTensors.File f = SafeTensors.open(Path.of(a[2])); Arena ar = Arena.ofConfined()) {
            xs = f.tensors().get("input").shape();
            int[] ls = f.tensors().get("logits").shape();
            MemorySegment mx = ar.allocate((long) xs[0] * xs[1] * xs[2] * xs[3] * 4), ml = ar.allocate((long) ls[0] * ls[1] * 4);
            f.readInto("input", xs, mx, 0);
            f.readInto("logits", ls, ml, 0);
            x = mx.toArray(ValueLayout.JAVA_FLOAT);
            ref = ml.toArray(ValueLayout.JAVA_FLOAT);
        }
        int per = xs[1] * xs[2] * xs[3];
        if (engine.equals("both")) {
            alternate(model, Path.of(a[5]), threads, a[4], a.length > 6 ? Integer.parseInt(a[6]) : 8, x, ref, xs);
            return;
        }
        long t0 = System.nanoTime();
        Engine e = engine.equals("tessera") ? tessera(model, threads) : ort(model, threads, xs);
        Runner run = e.run();
        float[] first = run.apply(java.util.Arrays.copyOf(x, per), 1);
        agreement(engine, threads, (System.nanoTime() - t0) / 1e6, run, x, ref, xs[0]);
        for (String bs : a[4].split(",")) {
            int b = Integer.parseInt(bs);
            float[] in = input(b, per);
            warm(run, in, b, 15e9);
            int n = b == 1 ? 5 : 2;
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 3; rep++) best = Math.min(best, seconds(run, in, b, n));
            System.out.printf("{\"engine\": \"%s\", \"batch\": %d, \"threads\": %d, \"img_per_s\": %.2f, \"ms_per_batch\": %.1f}%n", engine, b, threads, b / best, best * 1000);
        }
        e.closer().close();
        if (first.length == 0) System.out.println();
    }

    /** An engine loaded: how to run it, and what to close. */
    private record Engine(Runner run, AutoCloseable closer) {}

    private static Engine tessera(Path weights, int threads) throws Exception {
        Parallel.setThreads(threads);
        VisionTransformer vit = VisionTransformer.load(weights);
        return new Engine((in, b) -> vit.logits(in, b), vit);
    }

    private static Engine ort(Path model, int threads, int[] xs) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(threads);
        opts.setInterOpNumThreads(1);
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        OrtSession session = env.createSession(model.toString(), opts);
        Runner run = (in, b) -> {
            try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(in), new long[] {b, xs[1], xs[2], xs[3]});
                 OrtSession.Result r = session.run(Map.of("x", t))) {
                float[][] y = (float[][]) r.get(0).getValue();
                float[] flat = new float[b * y[0].length];
                for (int i = 0; i < b; i++) System.arraycopy(y[i], 0, flat, i * y[0].length, y[0].length);
                return flat;
            }
        };
        return new Engine(run, session);
    }

    /**
     * Between one engine's round and the other's (-Dpeer.pauseMs): lets ORT's spinning pool threads and Tessera's go
     * idle. 2 s instead of 100 ms changed nothing (2026-12-02: two threads, batch 1, medians 0.96x and 1.00x).
     */
    private static final long PAUSE_MS = Long.getLong("peer.pauseMs", 100);

    /** Both engines in this JVM, timed in alternating rounds of the same number of calls. */
    private static void alternate(Path weights, Path onnx, int threads, String batches, int rounds, float[] x, float[] ref, int[] xs) throws Exception {
        int per = xs[1] * xs[2] * xs[3];
        Engine[] engines = new Engine[2];
        String[] names = {"tessera", "ort"};
        for (int i = 0; i < 2; i++) {
            long t0 = System.nanoTime();
            engines[i] = i == 0 ? tessera(weights, threads) : ort(onnx, threads, xs);
            engines[i].run().apply(java.util.Arrays.copyOf(x, per), 1);
            agreement(names[i], threads, (System.nanoTime() - t0) / 1e6, engines[i].run(), x, ref, xs[0]);
        }
        Runner tessera = engines[0].run(), ort = engines[1].run();
        for (String bs : batches.split(",")) {
            int b = Integer.parseInt(bs), n = b == 1 ? 5 : 2;
            float[] in = input(b, per);
            warm(tessera, in, b, 15e9);
            warm(ort, in, b, 5e9);
            double[] ts = new double[rounds], os = new double[rounds], ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                // Who goes first alternates; a pause lets the other engine's spinning threads settle.
                if (r % 2 == 0) { ts[r] = seconds(tessera, in, b, n); Thread.sleep(PAUSE_MS); os[r] = seconds(ort, in, b, n); }
                else { os[r] = seconds(ort, in, b, n); Thread.sleep(PAUSE_MS); ts[r] = seconds(tessera, in, b, n); }
                Thread.sleep(PAUSE_MS);
                ratio[r] = os[r] / ts[r];
            }
            StringBuilder list = new StringBuilder();
            int atLeast1 = 0;
            for (double q : ratio) {
                list.append(list.isEmpty() ? "" : ", ").append(String.format("%.2f", q));
                if (q >= 1) atLeast1++;
            }
            System.out.printf("{\"engines\": \"tessera/ort alternating\", \"batch\": %d, \"threads\": %d, \"rounds\": %d, \"tessera_img_per_s\": %.2f, \"ort_img_per_s\": %.2f, "
                            + "\"ratios\": [%s], \"median_ratio\": %.2f, \"rounds_at_least_1\": %d}%n",
                    b, threads, rounds, b / median(ts), b / median(os), list, median(ratio), atLeast1);
        }
        for (Engine e : engines) e.closer().close();
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static void agreement(String engine, int threads, double firstMs, Runner run, float[] x, float[] ref, int batch) throws Exception {
        float[] y = run.apply(x, batch);
        double maxRef = 0, maxD = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxD = Math.max(maxD, Math.abs(ref[i] - y[i]));
        }
        System.out.printf("{\"engine\": \"%s\", \"threads\": %d, \"load_to_first_logits_ms\": %.0f, \"max_abs_diff_vs_torchvision\": %.3g, \"max_abs_logit\": %.3g, \"agrees\": %b}%n",
                engine, threads, firstMs, maxD, maxRef, maxD <= 1e-4 * maxRef + 1e-4);
    }

    private static float[] input(int b, int per) {
        float[] in = new float[b * per];
        Random r = new Random(0);
        for (int i = 0; i < in.length; i++) in[i] = (float) r.nextGaussian();
        return in;
    }

    /**
     * Warm-up by time, not count: the JIT needs seconds to compile the kernels (C2 still compiled the GEMM driver's
     * loops 22 s into a two-thread batch-1 run, after ~150 calls); ORT is native and needs little.
     */
    private static void warm(Runner run, float[] in, int b, double nanos) throws Exception {
        long w0 = System.nanoTime();
        int warm = 0;
        while (warm < 2 || System.nanoTime() - w0 < nanos) { run.apply(in, b); warm++; }
    }

    /** Seconds per call over n calls. */
    private static double seconds(Runner run, float[] in, int b, int n) throws Exception {
        long t = System.nanoTime();
        for (int i = 0; i < n; i++) run.apply(in, b);
        return (System.nanoTime() - t) / 1e9 / n;
    }

    interface Runner {
        float[] apply(float[] in, int batch) throws Exception;
    }
}
