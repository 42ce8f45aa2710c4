package dev.tessera.kernels;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.AttentionShape;
import dev.tessera.engine.kernels.Epilogue;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Runs every kernel of the active provider until C2 has compiled it, then prints the heap bytes one call allocates
 * ("name TAB bytes" per line). Started in its own JVM by {@link KernelAllocationTest}, with flags that take away the
 * type profiles C2 would otherwise lean on. Odd sizes, so the tails run too.
 */
public final class KernelAllocationProbe {
    private static final Arena ARENA = Arena.ofShared();

    private static MemorySegment random(long n, int seed) {
        MemorySegment s = OffHeap.allocateFloats(ARENA, n);
        Random r = new Random(seed);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian() * 0.5f);
        return s;
    }

    private static Kernels simdKernels() {
        try {
            return (Kernels) Class.forName("dev.tessera.engine.kernels.simd.SimdKernels").getConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot load the Vector API kernels", e);
        }
    }

    public static void main(String[] args) {
        Parallel.setThreads(1);
        // "c1": the Vector API kernels even where the provider would not choose them (a JVM without C2), so that
        // C1 compiles each of them; otherwise the provider's choice.
        boolean c1 = args.length > 1 && args[1].equals("c1");
        Kernels k = c1 ? simdKernels() : KernelProvider.get();
        int rows = 29, cols = 203, m = 37, n = 97, kk = 70;
        long rc = (long) rows * cols;
        MemorySegment x = random(rc, 1), y = random(rc, 2), dy = random(rc, 3), dx = random(rc, 4);
        MemorySegment gamma = random(cols, 5), beta = random(cols, 6), mean = random(rows, 7), rstd = random(rows, 8);
        MemorySegment dGamma = random(cols, 9), dBeta = random(cols, 10), moment2 = random(rc, 11);
        MemorySegment a = random((long) m * kk, 12), b = random((long) kk * n, 13), c = random((long) m * n, 14);
        MemorySegment bias = random(n, 15), residual = random((long) m * n, 16), preAct = random((long) m * n, 17);
        int heads = 3, tokens = 37, d = 24;
        long hn = (long) heads * tokens * d;
        MemorySegment q = random(hn, 18), kt = random(hn, 19), v = random(hn, 20), o = random(hn, 21), dO = random(hn, 22);
        MemorySegment dq = random(hn, 23), dk = random(hn, 24), dv = random(hn, 25), lse = random((long) heads * tokens, 26);
        MemorySegment diagonal = OffHeap.allocateFloats(ARENA, (long) tokens * tokens);
        for (int i = 0; i < tokens; i++) diagonal.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * tokens + i, Float.NEGATIVE_INFINITY);
        AttentionShape shape = new AttentionShape(1, heads, tokens, d, hn, d, (long) tokens * d, hn, d, (long) tokens * d);
        // Heads of whole vectors (32 floats, 16 lanes or 8) take the attention's direct transposes as well.
        int d2 = 32;
        long hn2 = (long) heads * tokens * d2;
        MemorySegment q2 = random(hn2, 27), k2 = random(hn2, 28), v2 = random(hn2, 29), o2 = random(hn2, 30);
        AttentionShape shape2 = new AttentionShape(1, heads, tokens, d2, hn2, d2, (long) tokens * d2, hn2, d2, (long) tokens * d2);
        float[] scale = new float[heads];
        Arrays.fill(scale, 0.2f);
        double[] dScale = new double[heads];
        int[] labels = new int[rows];
        for (int i = 0; i < rows; i++) labels[i] = i % cols;
        MemorySegment losses = random(rows, 27);

        Map<String, Runnable> kernels = new LinkedHashMap<>();
        kernels.put("gemm NN", () -> k.gemm(false, false, m, n, kk, 1f, a, 0, kk, b, 0, n, 0f, c, 0, n, Epilogue.NONE));
        kernels.put("gemm NT", () -> k.gemm(false, true, m, n, kk, 1f, a, 0, kk, b, 0, kk, 0f, c, 0, n, Epilogue.NONE));
        // K over several cache blocks (kc is at most 512): later blocks accumulate into C.
        MemorySegment aLong = random((long) m * 1100, 28), bLong = random(1100L * n, 29);
        kernels.put("gemm NN, K = 1100", () -> k.gemm(false, false, m, n, 1100, 1f, aLong, 0, 1100, bLong, 0, n, 0f, c, 0, n, Epilogue.NONE));
        kernels.put("gemm TN", () -> k.gemm(true, false, m, n, kk, 1f, a, 0, m, b, 0, n, 1f, c, 0, n, Epilogue.NONE));
        kernels.put("gemm bias+gelu+residual", () -> k.gemm(false, false, m, n, kk, 1f, a, 0, kk, b, 0, n, 0f, c, 0, n,
                Epilogue.biasAct(bias, 0, Activation.GELU).withPreAct(preAct, 0, n).withResidual(residual, 0, n)));
        // The one-pass epilogues: Linear + bias + GELU (training saves the pre-activation), Linear + bias + residual.
        kernels.put("gemm bias+gelu", () -> k.gemm(false, false, m, n, kk, 1f, a, 0, kk, b, 0, n, 0f, c, 0, n,
                Epilogue.biasAct(bias, 0, Activation.GELU).withPreAct(preAct, 0, n)));
        kernels.put("gemm bias+residual", () -> k.gemm(false, false, m, n, kk, 1f, a, 0, kk, b, 0, n, 0f, c, 0, n,
                Epilogue.biasAct(bias, 0, Activation.NONE).withResidual(residual, 0, n)));
        kernels.put("softmax", () -> k.softmax(x, 0, y, 0, rows, cols));
        kernels.put("softmaxBackward", () -> k.softmaxBackward(y, 0, dy, 0, dx, 0, rows, cols));
        kernels.put("layerNorm", () -> k.layerNorm(x, 0, gamma, 0, beta, 0, y, 0, mean, 0, rstd, 0, rows, cols, 1e-6f));
        kernels.put("layerNormBackward", () -> k.layerNormBackward(x, 0, gamma, 0, mean, 0, rstd, 0, dy, 0, dx, 0, dGamma, 0, dBeta, 0, rows, cols));
        for (Activation act : Activation.values()) {
            kernels.put("activation " + act, () -> k.activation(act, x, 0, y, 0, rc));
            kernels.put("activationBackward " + act, () -> k.activationBackward(act, x, 0, dy, 0, dx, 0, rc));
            kernels.put("activationGrad " + act, () -> k.activationGrad(act, x, 0, dy, 0, dx, 0, rc));
        }
        kernels.put("add", () -> k.add(x, 0, y, 0, dx, 0, rc));
        kernels.put("mul", () -> k.mul(x, 0, y, 0, dx, 0, rc));
        kernels.put("axpy", () -> k.axpy(0.1f, x, 0, dx, 0, rc));
        kernels.put("scale", () -> k.scale(0.1f, x, 0, dx, 0, rc));
        kernels.put("mulAcc", () -> k.mulAcc(x, 0, y, 0, dx, 0, rc));
        kernels.put("addRow", () -> k.addRow(x, 0, gamma, 0, y, 0, rows, cols));
        kernels.put("sumRows", () -> k.sumRows(x, 0, gamma, 0, rows, cols));
        kernels.put("sumCols", () -> k.sumCols(x, 0, mean, 0, rows, cols));
        kernels.put("copy", () -> k.copy(x, 0, y, 0, rc));
        kernels.put("sumSquares", () -> k.sumSquares(x, 0, rc));
        kernels.put("crossEntropy", () -> k.crossEntropy(x, 0, labels, null, 0, 0.1f, y, 0, losses, 0, rows, cols));
        kernels.put("crossEntropyBackward", () -> k.crossEntropyBackward(y, 0, labels, null, 0, 0.1f, 1f / rows, dx, 0, rows, cols));
        kernels.put("dropout", () -> k.dropout(x, 0, dGamma, 0, y, 0, cols, 0.1f, 7));
        kernels.put("attention", () -> k.attention(shape, q, 0, kt, 0, v, 0, scale, null, 0, o, 0, lse, 0));
        kernels.put("attention, heads of 32", () -> k.attention(shape2, q2, 0, k2, 0, v2, 0, scale, null, 0, o2, 0, lse, 0));
        kernels.put("attention with mask", () -> k.attention(shape, q, 0, kt, 0, v, 0, scale, diagonal, 0, o, 0, lse, 0));
        kernels.put("attentionBackward", () -> k.attentionBackward(shape, q, 0, kt, 0, v, 0, scale, diagonal, 0, o, 0, dO, 0, lse, 0,
                dq, 0, dk, 0, dv, 0, dScale));
        kernels.put("adamw", () -> k.adamw(x, 0, dy, 0, dx, 0, moment2, 0, rc, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 0.1f, 0.001f));
        kernels.put("sgd", () -> k.sgd(x, 0, dy, 0, dx, 0, rc, 1e-3f, 0.9f, true, 0f));
        kernels.put("ema", () -> k.ema(y, 0, x, 0, rc, 0.99f));

        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        int warmup = Integer.parseInt(args.length > 0 ? args[0] : "2000"), calls = c1 ? 1 : 100, rounds = c1 ? 1 : 4;
        for (var e : kernels.entrySet()) {
            // The smallest of a few rounds: a round may still catch a method before C2 has replaced it.
            double best = Double.MAX_VALUE;
            for (int round = 0; round < rounds && best > KernelAllocationTest.BYTES_PER_CALL; round++) {
                for (int i = 0; i < warmup; i++) e.getValue().run();
                long before = threads.getTotalThreadAllocatedBytes();
                for (int i = 0; i < calls; i++) e.getValue().run();
                best = Math.min(best, (threads.getTotalThreadAllocatedBytes() - before) / (double) calls);
            }
            System.out.println(e.getKey() + "\t" + Math.round(best));
        }
    }
}
