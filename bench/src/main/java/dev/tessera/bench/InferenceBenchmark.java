package dev.tessera.bench;

import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * ViT inference at 224x224x3, 1000 classes: the peer is ONNX Runtime Java on the ONNX export of the same torchvision
 * model (../shared/peers/ort/run.sh). img/s = batch / (seconds per op).
 *
 * <p>{@code weights=random} builds the preset with random weights in Tessera's own layout; a path to a torchvision,
 * timm or Hugging Face safetensors file (e.g. written by bench/scripts/make_vit_fixtures.py b16) runs that file the
 * way {@code tessera predict --weights} does: mapped, in PyTorch's layout. The model param is then ignored.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class InferenceBenchmark {
    @Param({"ti/16", "s/16", "b/16"}) public String model;
    @Param({"1", "8"}) public int batch;
    @Param({"2"}) public int threads;
    @Param({"random"}) public String weights;

    private VisionTransformer vit;
    private float[] images;
    private long offHeapAfterWarmup = -1;
    private int calls;

    @Setup
    public void setup() throws IOException {
        Parallel.setThreads(threads);
        vit = weights.equals("random")
                ? new VisionTransformer(ViTConfig.preset(model, 224, 224, 3, 1000), 0)
                : VisionTransformer.load(Path.of(weights));
        ViTConfig c = vit.config();
        Random r = new Random(0);
        images = new float[batch * c.channels() * c.imageHeight() * c.imageWidth()];
        for (int i = 0; i < images.length; i++) images[i] = (float) r.nextGaussian();
    }

    @TearDown
    public void tearDown() {
        Sidecar.record("InferenceBenchmark", model + "," + batch + "," + threads);
        if (offHeapAfterWarmup >= 0 && OffHeap.allocatedBytes() != offHeapAfterWarmup) {
            System.out.println("WARNING: off-heap memory grew by " + (OffHeap.allocatedBytes() - offHeapAfterWarmup) + " bytes in steady state");
        }
        vit.close();
    }

    @Benchmark
    public float classify() {
        float[] logits = vit.logits(images, batch);
        if (++calls == 2) offHeapAfterWarmup = OffHeap.allocatedBytes();
        return logits[0];
    }
}
