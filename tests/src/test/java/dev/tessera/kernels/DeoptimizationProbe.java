package dev.tessera.kernels;

import dev.tessera.engine.kernels.AttentionDropout;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * Calls attention, forward and backward, as a ViT layer does (Q, K, V packed in one tensor, O and the log-sum-exp
 * exactly as large as they must be) for args[0] seconds under JFR, then prints each of our methods that C2
 * deoptimized, with its count and reasons. Run by {@link DeoptimizationTest}. The recording starts before the first
 * call: started after a few seconds of warm-up, it saw none of the deoptimizations it was written for.
 */
public final class DeoptimizationProbe {
    public static void main(String[] args) throws Exception {
        double seconds = Double.parseDouble(args[0]);
        Kernels k = KernelProvider.get();
        Arena arena = Arena.ofShared();
        Runnable[] calls = {workload(k, arena, 197, 12, 64), workload(k, arena, 37, 3, 24)};
        try (Recording r = new Recording()) {
            r.enable("jdk.Deoptimization");
            r.start();
            run(calls, seconds);
            r.stop();
            java.nio.file.Path file = java.nio.file.Files.createTempFile("deopt", ".jfr");
            r.dump(file);
            Map<String, Integer> count = new TreeMap<>();
            Map<String, String> reasons = new TreeMap<>();
            for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
                jdk.jfr.consumer.RecordedMethod method = e.getValue("method");
                String m = method.getType().getName() + "." + method.getName();
                if (!m.startsWith("dev.tessera")) continue;
                count.merge(m, 1, Integer::sum);
                reasons.merge(m, e.getString("reason"), (a, b) -> a.contains(b) ? a : a + "," + b);
            }
            java.nio.file.Files.delete(file);
            for (var e : count.entrySet()) System.out.println("deopt\t" + e.getKey() + "\t" + e.getValue() + "\t" + reasons.get(e.getKey()));
        }
        System.out.println("done");
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

    private static MemorySegment random(Arena arena, long n, long seed) {
        MemorySegment m = OffHeap.allocateFloats(arena, n);
        Random r = new Random(seed);
        for (long i = 0; i < n; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        return m;
    }
}
