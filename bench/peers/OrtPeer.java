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
        long t0 = System.nanoTime();
        Runner run;
        AutoCloseable closer;
        if (engine.equals("tessera")) {
            Parallel.setThreads(threads);
            VisionTransformer vit = VisionTransformer.load(model);
            run = (in, b) -> vit.logits(in, b);
            closer = vit;
        } else {
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
            opts.setIntraOpNumThreads(threads);
            opts.setInterOpNumThreads(1);
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            OrtSession session = env.createSession(model.toString(), opts);
            run = (in, b) -> {
                try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(in), new long[] {b, xs[1], xs[2], xs[3]});
                     OrtSession.Result r = session.run(Map.of("x", t))) {
                    float[][] y = (float[][]) r.get(0).getValue();
                    float[] flat = new float[b * y[0].length];
                    for (int i = 0; i < b; i++) System.arraycopy(y[i], 0, flat, i * y[0].length, y[0].length);
                    return flat;
                }
            };
            closer = session;
        }
        float[] first = run.apply(java.util.Arrays.copyOf(x, per), 1);
        double firstMs = (System.nanoTime() - t0) / 1e6;
        float[] y = run.apply(x, xs[0]);
        double maxRef = 0, maxD = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxD = Math.max(maxD, Math.abs(ref[i] - y[i]));
        }
        System.out.printf("{\"engine\": \"%s\", \"threads\": %d, \"load_to_first_logits_ms\": %.0f, \"max_abs_diff_vs_torchvision\": %.3g, \"max_abs_logit\": %.3g, \"agrees\": %b}%n",
                engine, threads, firstMs, maxD, maxRef, maxD <= 1e-4 * maxRef + 1e-4);
        for (String bs : a[4].split(",")) {
            int b = Integer.parseInt(bs);
            float[] in = new float[b * per];
            Random r = new Random(0);
            for (int i = 0; i < in.length; i++) in[i] = (float) r.nextGaussian();
            // Warm-up by time, not count: the JIT needs seconds to compile the kernels (C2 still compiled the GEMM
            // driver's loops 22 s into a two-thread batch-1 run, after ~150 calls); ORT is native and needs none.
            long w0 = System.nanoTime();
            int warm = 0;
            while (warm < 2 || System.nanoTime() - w0 < 15e9) { run.apply(in, b); warm++; }
            int n = b == 1 ? 5 : 2;
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 3; rep++) {
                long t = System.nanoTime();
                for (int i = 0; i < n; i++) run.apply(in, b);
                best = Math.min(best, (System.nanoTime() - t) / 1e9 / n);
            }
            System.out.printf("{\"engine\": \"%s\", \"batch\": %d, \"threads\": %d, \"img_per_s\": %.2f, \"ms_per_batch\": %.1f}%n", engine, b, threads, b / best, best * 1000);
        }
        closer.close();
        if (first.length == 0) System.out.println();
    }

    interface Runner {
        float[] apply(float[] in, int batch) throws Exception;
    }
}
