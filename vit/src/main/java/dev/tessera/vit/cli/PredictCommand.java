package dev.tessera.vit.cli;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.data.FashionMnist;
import dev.tessera.vit.image.ImageLoader;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;

/** {@code tessera predict --checkpoint DIR [--top K] IMAGE...}: the top-k labels of each image. */
final class PredictCommand {
    private PredictCommand() {}

    static int run(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, Set.of(), Set.of("checkpoint", "top"));
        String ck = a.str("checkpoint", null);
        if (ck == null) throw new UsageException("predict needs --checkpoint DIR and one or more images");
        if (a.positional.isEmpty()) throw new UsageException("predict needs one or more image files");
        Path dir = CheckpointArgs.directory(ck);
        float[] norm = CheckpointArgs.normalisation(dir);
        float mean = norm[0], std = norm[1];
        try (VisionTransformer vit = Checkpoint.loadModel(dir); Workspace ws = new Workspace()) {
            ViTConfig c = vit.config();
            int top = Math.max(1, Math.min(c.numClasses(), a.integer("top", 3)));
            for (String f : a.positional) {
                byte[] px = ImageLoader.toPlanar(ImageLoader.read(Path.of(f)), c.channels(), c.imageHeight(), c.imageWidth());
                float[] x = new float[px.length];
                for (int i = 0; i < px.length; i++) x[i] = ((px[i] & 0xff) / 255f - mean) / std;
                Tape tape = Tape.inference(ws);
                Tensor in = ws.allocate(1, c.channels(), c.imageHeight(), c.imageWidth()).copyFrom(x);
                float[] p = Ops.softmax(tape, vit.forward(tape, in, 0)).toArray();
                tape.reset();
                out.println(f);
                boolean[] used = new boolean[p.length];
                for (int k = 0; k < top; k++) {
                    int best = -1;
                    for (int i = 0; i < p.length; i++) if (!used[i] && (best < 0 || p[i] > p[best])) best = i;
                    used[best] = true;
                    String label = best < FashionMnist.CLASSES.length && c.numClasses() == FashionMnist.CLASSES.length ? FashionMnist.CLASSES[best] : Integer.toString(best);
                    out.printf("  %d. %-12s %.4f%n", k + 1, label, p[best]);
                }
            }
        }
        return 0;
    }
}
