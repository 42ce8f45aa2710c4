package dev.tessera.vit.io;

import dev.tessera.engine.nn.Parameter;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training checkpoint is a directory: model.safetensors (weights), config.json (the ViTConfig), optimizer.safetensors
 * (AdamW moments) and state.json (epoch, step, recipe, metrics). It is written to a sibling temp directory, synced, and
 * swapped in by renames, so a crash at any point leaves either the old or the new checkpoint, never half of one.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static void save(Path dir, VisionTransformer model, dev.tessera.engine.optim.Optimizer opt, Map<String, Object> state) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = parent.resolve(dir.getFileName() + ".tmp"), old = parent.resolve(dir.getFileName() + ".old");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        List<Parameter> ps = model.parameters().all();
        Map<String, SafeTensors.Entry> weights = new LinkedHashMap<>();
        for (Parameter p : ps) weights.put(p.name(), new SafeTensors.Entry(p.value().shape(), p.value().segment().asSlice(p.value().offset() * 4, p.numel() * 4)));
        Map<String, String> meta = Map.of("format", "tessera-vit", "layout", "linear weights are (in, out)");
        SafeTensors.write(tmp.resolve("model.safetensors"), weights, meta);
        if (opt != null) {
            Map<String, SafeTensors.Entry> moments = new LinkedHashMap<>();
            List<String> kinds = opt.stateNames();
            for (int i = 0; i < ps.size(); i++) {
                for (int w = 0; w < kinds.size(); w++) {
                    moments.put(ps.get(i).name() + "." + kinds.get(w), new SafeTensors.Entry(ps.get(i).value().shape(), opt.state(i, w)));
                }
            }
            SafeTensors.write(tmp.resolve("optimizer.safetensors"), moments,
                    Map.of("steps", Long.toString(opt.steps()), "optimizer", opt.getClass().getSimpleName()));
        }
        Files.writeString(tmp.resolve("config.json"), Json.write(ModelConfigs.toMap(model.config())) + "\n");
        Files.writeString(tmp.resolve("state.json"), Json.write(state) + "\n");
        try (Stream<Path> files = Files.list(tmp)) {
            for (Path f : files.toList()) {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
            }
        }
        deleteTree(old);
        if (Files.exists(dir)) Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    /** The directory to read: dir, or its .old twin when a crash fell between the two renames. */
    public static Path resolve(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve("model.safetensors"))) return dir;
        Path old = dir.toAbsolutePath().getParent().resolve(dir.getFileName() + ".old");
        if (Files.isRegularFile(old.resolve("model.safetensors"))) return old;
        throw new IOException(dir + ": no checkpoint (model.safetensors) here");
    }

    public static ViTConfig readConfig(Path dir) throws IOException {
        Path d = resolve(dir);
        Object o = Json.parse(Files.readString(d.resolve("config.json"), StandardCharsets.UTF_8));
        if (!(o instanceof Map<?, ?> m)) throw new IOException(d.resolve("config.json") + ": not a JSON object");
        try {
            return ModelConfigs.fromMap(m);
        } catch (RuntimeException e) {
            throw new IOException(d.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> readState(Path dir) throws IOException {
        Path f = resolve(dir).resolve("state.json");
        Object o;
        try {
            o = Json.parse(Files.readString(f, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new IOException(f + ": " + e.getMessage(), e);
        }
        if (!(o instanceof Map<?, ?>)) throw new IOException(f + ": not a JSON object");
        return (Map<String, Object>) o;
    }

    /** A model built from the checkpoint's config with its weights loaded. */
    public static VisionTransformer loadModel(Path dir) throws IOException {
        ViTConfig c = readConfig(dir);
        VisionTransformer model = new VisionTransformer(c, 0);
        try {
            loadWeights(resolve(dir), model);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** A run's OUT directory or its OUT/checkpoint: either names the checkpoint. */
    public static Path directory(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json")) && Files.isDirectory(dir.resolve("checkpoint"))) return dir.resolve("checkpoint");
        return dir;
    }

    /** {mean, std} stored by the trainer, or the Fashion-MNIST statistics for older checkpoints without them. */
    public static float[] normalisation(Path dir) throws IOException {
        return normalisation(readState(dir));
    }

    private static float[] normalisation(Map<String, Object> state) {
        float mean = state.get("normalize_mean") instanceof Number n ? n.floatValue() : dev.tessera.vit.data.FashionMnist.MEAN;
        float std = state.get("normalize_std") instanceof Number n ? n.floatValue() : dev.tessera.vit.data.FashionMnist.STD;
        return new float[] {mean, std};
    }

    /**
     * A checkpoint (or run directory holding one) ready for {@code classify}: its model, the training normalisation
     * (resize to the model's input, then (x - mean) / std), and the class names the run recorded (Fashion-MNIST's for a
     * 10-class grey model from before they were recorded).
     */
    public static VisionTransformer loadForInference(Path run) throws IOException {
        Path dir = directory(run);
        VisionTransformer m = loadModel(dir);
        try {
            Map<String, Object> state = readState(dir);
            float[] norm = normalisation(state);
            float mean = norm[0], std = norm[1];
            ViTConfig c = m.config();
            m.setPreprocess(new dev.tessera.vit.image.Preprocess("tessera", c.imageHeight(), true, c.imageHeight(), c.imageWidth(),
                    dev.tessera.vit.image.PilResize.Filter.BILINEAR, new float[] {mean, mean, mean}, new float[] {std, std, std}));
            List<String> names = new java.util.ArrayList<>();
            if (state.get("class_names") instanceof List<?> l) for (Object o : l) names.add(String.valueOf(o));
            if (names.size() == c.numClasses()) {
                m.setLabels(names);
            } else if (c.numClasses() == dev.tessera.vit.data.FashionMnist.CLASSES.length && c.channels() == 1) {
                m.setLabels(List.of(dev.tessera.vit.data.FashionMnist.CLASSES));
            }
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public static void loadWeights(Path dir, VisionTransformer model) throws IOException {
        try (SafeTensors.File f = SafeTensors.open(dir.resolve("model.safetensors"))) {
            for (Parameter p : model.parameters().all()) f.readInto(p.name(), p.value().shape(), p.value().segment(), p.value().offset());
            for (String name : f.tensors().keySet()) {
                if (name.startsWith("mpp.") && model.parameters().all().stream().noneMatch(p -> p.name().startsWith("mpp."))) continue; // a pre-training head, not part of the model
                boolean known = model.parameters().all().stream().anyMatch(p -> p.name().equals(name));
                if (!known) throw new IOException(f.path() + ": unexpected tensor '" + name + "' for this model");
            }
        }
    }

    public static void loadOptimizer(Path dir, VisionTransformer model, dev.tessera.engine.optim.Optimizer opt) throws IOException {
        try (SafeTensors.File f = SafeTensors.open(resolve(dir).resolve("optimizer.safetensors"))) {
            String kind = f.metadata().get("optimizer");
            if (kind != null && !kind.equals(opt.getClass().getSimpleName())) {
                throw new IOException(f.path() + ": optimizer state of " + kind + ", but this run uses " + opt.getClass().getSimpleName());
            }
            List<Parameter> ps = model.parameters().all();
            List<String> kinds = opt.stateNames();
            for (int i = 0; i < ps.size(); i++) {
                for (int w = 0; w < kinds.size(); w++) f.readInto(ps.get(i).name() + "." + kinds.get(w), ps.get(i).value().shape(), opt.state(i, w), 0);
            }
            String steps = f.metadata().get("steps");
            if (steps == null) throw new IOException(f.path() + ": no 'steps' in metadata");
            opt.setSteps(Long.parseLong(steps));
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
