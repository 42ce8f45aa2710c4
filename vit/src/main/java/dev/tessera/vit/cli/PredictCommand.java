package dev.tessera.vit.cli;

import dev.tessera.vit.image.ImageLoader;
import dev.tessera.vit.image.Preprocess;
import dev.tessera.vit.io.CheckpointFormat;
import dev.tessera.vit.io.Json;
import dev.tessera.vit.io.PretrainedWeights;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code tessera predict (--checkpoint DIR | --weights FILE.safetensors) [--format auto|timm|torchvision|hf]
 * [--preprocess timm|torchvision|hf] [--labels FILE] [--top K] [--json] [--logits] [--heads H] [--image-size N] IMAGE...}:
 * the top-k classes of each image.
 */
final class PredictCommand {
    static final int PREPACK_FROM_IMAGES = 64;

    private PredictCommand() {}

    static int run(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, Set.of("json", "logits"),
                Set.of("checkpoint", "weights", "format", "preprocess", "labels", "top", "heads", "image-size", "hf-config"));
        String ck = a.str("checkpoint", null), wt = a.str("weights", null);
        if ((ck == null) == (wt == null)) throw new UsageException("predict needs one of --checkpoint DIR (Tessera) or --weights FILE.safetensors (timm, torchvision, Hugging Face), and images");
        if (a.positional.isEmpty()) throw new UsageException("predict needs one or more image files");
        VisionTransformer vit;
        if (ck != null) {
            vit = VisionTransformer.load(CheckpointArgs.classifier(ck));
        } else {
            // Packing every weight first (346 MB for ViT-B/16) costs more than packing each GEMM's panels as it runs until
            // there are many images: ViT-B/16, one image 3.3-3.5 s against 4.1-4.2 s, eight images 5.4-5.6 s against
            // 6.0-6.1 s, at the same peak RSS.
            PretrainedWeights.Options opt = PretrainedWeights.Options.AUTO.withPrepack(a.positional.size() >= PREPACK_FROM_IMAGES);
            String fmt = a.str("format", "auto");
            try {
                if (!fmt.equals("auto")) opt = opt.withFormat(CheckpointFormat.parse(fmt));
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            int heads = a.integer("heads", 0), size = a.integer("image-size", 0);
            if (heads > 0) opt = opt.withHeads(heads);
            if (size > 0) opt = opt.withImageSize(size, size);
            if (a.str("hf-config", null) != null) opt = opt.withHfConfig(Path.of(a.str("hf-config", null)));
            vit = VisionTransformer.load(Path.of(wt), opt);
        }
        try (VisionTransformer model = vit) {
            ViTConfig c = model.config();
            // Few images read the weights a few times: hand each block's pages back after use, so the resident set is
            // about one block of weights, not the whole checkpoint (ViT-B/16: the checkpoint is 346 MB).
            String release = System.getProperty("tessera.predict.releaseWeights");
            if (wt != null && (release != null ? Boolean.parseBoolean(release) : a.positional.size() < PREPACK_FROM_IMAGES)) {
                model.releaseWeightsAfterUse(true);
            }
            if (a.str("preprocess", null) != null) {
                try {
                    model.setPreprocess(Preprocess.preset(a.str("preprocess", null), c.imageHeight()));
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            }
            if (a.str("labels", null) != null) model.setLabels(readLabels(Path.of(a.str("labels", null)), c.numClasses()));
            int top = Math.max(1, Math.min(c.numClasses(), a.integer("top", 5)));
            boolean json = a.flag("json"), withLogits = a.flag("logits");
            for (String f : a.positional) {
                BufferedImage img = ImageLoader.read(Path.of(f));
                float[] logits = model.logits(model.preprocess().apply(img, c.channels()), 1);
                List<VisionTransformer.Prediction> best = model.top(logits, top);
                if (json) {
                    Map<String, Object> o = new LinkedHashMap<>();
                    o.put("image", f);
                    List<Object> t = new ArrayList<>();
                    for (VisionTransformer.Prediction p : best) {
                        Map<String, Object> e = new LinkedHashMap<>();
                        e.put("index", p.index());
                        e.put("label", p.label());
                        e.put("prob", (double) p.probability());
                        t.add(e);
                    }
                    o.put("top", t);
                    if (withLogits) o.put("logits", logits);
                    out.println(Json.write(o));
                } else {
                    out.println(f);
                    for (int k = 0; k < best.size(); k++) out.printf("  %d. %-24s %.4f%n", k + 1, best.get(k).label(), best.get(k).probability());
                    if (withLogits) out.println("  logits " + java.util.Arrays.toString(logits));
                }
            }
        }
        return 0;
    }

    /** One label per line, as many as the model has classes. */
    static List<String> readLabels(Path file, int classes) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": no such labels file");
        List<String> lines = new ArrayList<>();
        for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) if (!l.isBlank()) lines.add(l.strip());
        if (lines.size() != classes) throw new IOException(file + ": " + lines.size() + " labels for a model of " + classes + " classes");
        return lines;
    }
}
