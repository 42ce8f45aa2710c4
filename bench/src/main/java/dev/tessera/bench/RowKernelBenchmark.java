package dev.tessera.bench;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.ScalarKernels;
import dev.tessera.engine.tensor.OffHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Memory-bound kernels in GB/s: the {@code bytes} counter (bytes read + written per call) is reported by JMH as a rate,
 * so "bytes" in ops/s divided by 1e9 is GB/s. {@code copy} is the yardstick the others are held to (at least 70%).
 * Rows of ViT-B width (768) over 4 MiB: larger than L2, so the figures are about memory, not cache.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class RowKernelBenchmark {
    @Param({"copy", "layernorm", "softmax", "gelu", "gelu_tanh", "add", "adamw"})
    public String kernel;

    @Param({"simd", "scalar"})
    public String impl;

    @Param({"768"})
    public int cols;

    @Param({"16384"})
    public int rows;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private MemorySegment x, y, z, w, gamma, beta, mean, rstd;
    private Kernels k;

    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Bytes {
        public long bytes;

        @Setup(Level.Iteration)
        public void clean() { bytes = 0; }
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        long n = (long) rows * cols;
        x = OffHeap.allocateFloats(arena, n);
        y = OffHeap.allocateFloats(arena, n);
        z = OffHeap.allocateFloats(arena, n);
        w = OffHeap.allocateFloats(arena, n);
        Random r = new Random(1);
        for (long i = 0; i < n; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            z.setAtIndex(ValueLayout.JAVA_FLOAT, i, Math.abs((float) r.nextGaussian()));
        }
        gamma = OffHeap.allocateFloats(arena, cols);
        beta = OffHeap.allocateFloats(arena, cols);
        mean = OffHeap.allocateFloats(arena, rows);
        rstd = OffHeap.allocateFloats(arena, rows);
        k = impl.equals("scalar") ? new ScalarKernels() : KernelProvider.get();
        dev.tessera.engine.kernels.Parallel.setThreads(threads);
    }

    @TearDown
    public void tearDown() {
        Sidecar.record("RowKernelBenchmark", kernel + "," + impl + "," + threads);
        arena.close();
    }

    @Benchmark
    public void run(Bytes b) {
        long n = (long) rows * cols;
        switch (kernel) {
            case "copy" -> { k.copy(x, 0, y, 0, n); b.bytes += 8 * n; }
            case "layernorm" -> { k.layerNorm(x, 0, gamma, 0, beta, 0, y, 0, mean, 0, rstd, 0, rows, cols, 1e-6f); b.bytes += 8 * n; }
            case "softmax" -> { k.softmax(x, 0, y, 0, rows, cols); b.bytes += 8 * n; }
            case "gelu" -> { k.activation(Activation.GELU, x, 0, y, 0, n); b.bytes += 8 * n; }
            case "gelu_tanh" -> { k.activation(Activation.GELU_TANH, x, 0, y, 0, n); b.bytes += 8 * n; }
            case "add" -> { k.add(x, 0, z, 0, y, 0, n); b.bytes += 12 * n; }
            // p, g, m, v read; p, m, v written.
            case "adamw" -> { k.adamw(y, 0, x, 0, w, 0, z, 0, n, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.05f, 0.5f, 0.5f); b.bytes += 28 * n; }
            default -> throw new IllegalArgumentException(kernel);
        }
    }
}
