package dev.tessera.bench;

import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.optim.AdamW;
import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import dev.tessera.vit.train.TrainingStep;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * One training step (forward, cross-entropy, backward, AdamW) and one inference forward of a ViT on 28x28x1 images,
 * 10 classes, class token, learned position embeddings: the model of ../shared/peers/torch_train_vit.py. img/s =
 * batch / (seconds per op). The engine's off-heap counter must not move after the first step.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class TrainStepBenchmark {
    @Param({"192"}) public int dim;
    @Param({"6"}) public int depth;
    @Param({"3"}) public int heads;
    @Param({"768"}) public int mlpDim;
    @Param({"4"}) public int patch;
    @Param({"128"}) public int batch;
    @Param({"2"}) public int threads;

    private VisionTransformer vit;
    private AdamW opt;
    private Workspace ws;
    private float[] images;
    private int[] labels;
    private long step;
    private long offHeapAfterWarmup = -1;

    @Setup
    public void setup() {
        Parallel.setThreads(threads);
        ViTConfig c = ViTConfig.of(28, 28, 1, patch, dim, depth, heads, mlpDim, 10).withLnEps(1e-6f);
        vit = new VisionTransformer(c, 0);
        opt = new AdamW(vit.parameters(), 0.9f, 0.999f, 1e-8f, 0.05f);
        ws = new Workspace();
        Random r = new Random(0);
        images = new float[batch * 28 * 28];
        for (int i = 0; i < images.length; i++) images[i] = (float) r.nextGaussian();
        labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = r.nextInt(10);
    }

    @TearDown
    public void tearDown() {
        Sidecar.record("TrainStepBenchmark", dim + "," + depth + "," + batch + "," + threads);
        if (offHeapAfterWarmup >= 0 && OffHeap.allocatedBytes() != offHeapAfterWarmup) {
            System.out.println("WARNING: off-heap memory grew by " + (OffHeap.allocatedBytes() - offHeapAfterWarmup) + " bytes in steady state");
        }
        ws.close();
        vit.close();
    }

    @Benchmark
    public float train() {
        // The trainer's own step (no clipping here): the batch a chunk at a time, gradients accumulated, one update.
        float l = TrainingStep.run(vit, opt, ws, images, batch, labels, null, 0f, 0, 1e-4f, step++).loss();
        if (offHeapAfterWarmup < 0 && step == 2) offHeapAfterWarmup = OffHeap.allocatedBytes();
        return l;
    }

    @Benchmark
    public float eval() {
        Tape tape = Tape.inference(ws);
        Tensor x = ws.allocate(batch, 1, 28, 28).copyFrom(images);
        float v = vit.forward(tape, x, 0).getFlat(0);
        tape.reset();
        return v;
    }
}
