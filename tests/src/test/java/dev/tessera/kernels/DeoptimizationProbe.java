package dev.tessera.kernels;

import static dev.tessera.Fixtures.random;

import dev.tessera.engine.kernels.AttentionDropout;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.optim.AdamW;
import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.TrainingStep;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * Calls attention, forward and backward, as a ViT layer does (Q, K, V packed in one tensor, O and the log-sum-exp
 * exactly as large as they must be), then the trainer's step on the default recipe's model, args[0] seconds each under
 * JFR, then prints each of our methods that C2 deoptimized: how often, in how many bursts, and why. Run by
 * {@link DeoptimizationTest}. The recording starts before the first call: started after a few seconds of warm-up, it
 * saw none of the deoptimizations it was written for (they had reached the per-method limit).
 */
public final class DeoptimizationProbe {
    public static void main(String[] args) throws Exception {
        double seconds = Double.parseDouble(args[0]);
        Kernels k = KernelProvider.get();
        Arena arena = Arena.ofShared();
        Runnable[] attention = {workload(k, arena, 197, 12, 64), workload(k, arena, 37, 3, 24)}, training = {trainingStep()};
        try (Recording r = new Recording()) {
            r.enable("jdk.Deoptimization");
            r.start();
            // One after the other: a training step takes long enough to dilute the attention calls' storm to a few events.
            run(attention, seconds);
            run(training, seconds);
            r.stop();
            java.nio.file.Path file = java.nio.file.Files.createTempFile("deopt", ".jfr");
            r.dump(file);
            Map<String, java.util.List<java.time.Instant>> times = new TreeMap<>();
            Map<String, String> reasons = new TreeMap<>();
            for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
                if (!e.hasField("method") || e.getValue("method") == null) continue;
                jdk.jfr.consumer.RecordedMethod method = e.getValue("method");
                String m = method.getType().getName() + "." + method.getName();
                if (!m.startsWith("dev.tessera")) continue;
                times.computeIfAbsent(m, x -> new java.util.ArrayList<>()).add(e.getStartTime());
                reasons.merge(m, e.getString("reason"), (a, b) -> a.contains(b) ? a : a + "," + b);
            }
            java.nio.file.Files.delete(file);
            for (var e : times.entrySet()) {
                System.out.println("deopt\t" + e.getKey() + "\t" + e.getValue().size() + "\t" + bursts(e.getValue()) + "\t" + reasons.get(e.getKey()));
            }
        }
        System.out.println("done");
    }

    /**
     * Runs of deoptimizations less than 50 ms apart. Warming up, several threads hit a trap before its method is
     * recompiled (up to 7 within a few milliseconds); a storm comes back again and again.
     */
    static int bursts(java.util.List<java.time.Instant> times) {
        java.util.List<java.time.Instant> sorted = new java.util.ArrayList<>(times);
        java.util.Collections.sort(sorted);
        int bursts = 0;
        for (int i = 0; i < sorted.size(); i++) {
            if (i == 0 || Duration.between(sorted.get(i - 1), sorted.get(i)).toMillis() > 50) bursts++;
        }
        return bursts;
    }

    private static void run(Runnable[] calls, double seconds) {
        long end = System.nanoTime() + Duration.ofMillis((long) (seconds * 1000)).toNanos();
        while (System.nanoTime() < end) for (Runnable c : calls) c.run();
    }

    private static Runnable workload(Kernels k, Arena arena, int n, int heads, int d) {
        AttentionShape s = AttentionShape.packedQkv(1, n, heads, d);
        long dim = (long) heads * d;
        MemorySegment qkv = random(arena, n * 3 * dim, 1), o = OffHeap.allocateFloats(arena, n * dim), lse = OffHeap.allocateFloats(arena, (long) heads * n);
        MemorySegment dO = random(arena, n * dim, 2), g = OffHeap.allocateFloats(arena, n * 3 * dim);
        float[] scale = new float[heads];
        java.util.Arrays.fill(scale, (float) (1 / Math.sqrt(d)));
        return () -> {
            k.attention(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, null, 0, AttentionDropout.NONE, o, 0, lse, 0);
            k.attentionBackward(s, qkv, 0, qkv, dim, qkv, 2 * dim, scale, null, 0, AttentionDropout.NONE, o, 0, dO, 0, lse, 0,
                    g, 0, g, dim, g, 2 * dim, null);
        };
    }

    /** The default recipe's model (SPT, LSA) and the trainer's step, on a batch of 32 Fashion-MNIST-sized images. */
    private static Runnable trainingStep() {
        ViTConfig cfg = ViTConfig.of(28, 28, 1, 4, 128, 4, 4, 512, 10).withSmallDataMethods(true, true);
        VisionTransformer vit = new VisionTransformer(cfg, 0L);
        AdamW opt = new AdamW(vit.parameters(), 0.9f, 0.999f, 1e-8f, 0.05f);
        Workspace ws = new Workspace();
        Random r = new Random(3);
        int batch = 32;
        float[] images = new float[batch * 28 * 28];
        for (int i = 0; i < images.length; i++) images[i] = (float) r.nextGaussian();
        int[] labels = r.ints(batch, 0, 10).toArray();
        long[] seed = {0};
        return () -> TrainingStep.run(vit, opt, ws, images, batch, labels, null, 0f, 1.0, 1e-4f, seed[0]++);
    }
}
