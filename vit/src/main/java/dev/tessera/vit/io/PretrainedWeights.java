package dev.tessera.vit.io;

import dev.tessera.engine.nn.ExternalWeights;
import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Shapes;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import dev.tessera.vit.model.PositionEmbeddings;
import dev.tessera.vit.model.ViTConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A timm, torchvision or Hugging Face ViT checkpoint (safetensors) as the weights of a Tessera {@code VisionTransformer}:
 * key names mapped to Tessera's, the config inferred from tensor shapes. F32 tensors are views into the mapped file,
 * never copied: linear weights stay in PyTorch's (out, in) layout and the GEMM reads them transposed. Only what has
 * to change is materialised: F16/BF16 data (converted), Hugging Face's separate query/key/value (concatenated),
 * and position embeddings resampled to another resolution.
 */
public final class PretrainedWeights implements ExternalWeights {
    /**
     * What the caller may pin down; nulls and zeros mean "infer from the file". {@code prepack}: pack each linear
     * weight once into the GEMM's panel layout (as fast as inference gets; the mapped pages of the originals are
     * released, so memory stays about one copy of the weights) instead of running every GEMM on the mapping as stored.
     */
    public record Options(CheckpointFormat format, int heads, int imageHeight, int imageWidth, Path hfConfig, boolean prepack) {
        public static final Options AUTO = new Options(null, 0, 0, 0, null, true);

        public Options withHeads(int h) { return new Options(format, h, imageHeight, imageWidth, hfConfig, prepack); }
        public Options withFormat(CheckpointFormat f) { return new Options(f, heads, imageHeight, imageWidth, hfConfig, prepack); }
        public Options withImageSize(int h, int w) { return new Options(format, heads, h, w, hfConfig, prepack); }
        public Options withHfConfig(Path p) { return new Options(format, heads, imageHeight, imageWidth, p, prepack); }
        public Options withPrepack(boolean p) { return new Options(format, heads, imageHeight, imageWidth, hfConfig, p); }
    }

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final SafeTensors.File file;
    private final Arena owned = Arena.ofShared();
    private final CheckpointFormat format;
    private final ViTConfig config;
    private final List<String> labels;
    /** Tessera name -> file key, for tensors used as stored. */
    private final Map<String, String> keyOf = new HashMap<>();
    /** Tessera name -> tensor built here (converted, concatenated, resampled, synthesised). */
    private final Map<String, Tensor> built = new HashMap<>();
    private final Set<String> outIn = new HashSet<>();
    private final Set<String> used = new HashSet<>();
    /**
     * Whether tensors other than linear weights (biases, norms, tokens, positions: well under 1% of the bytes) are
     * copied out of the mapping. With pre-packing the linear weights are copied too, and afterwards nothing may touch
     * the mapping: every read of a small tensor would fault its neighbours back in (the kernel maps pages around
     * a fault, whole large folios on recent kernels), which put ~85 MB of ViT-B/16's released weights back in RSS.
     */
    private final boolean copySmall;

    private PretrainedWeights(SafeTensors.File file, Options opt) throws IOException {
        this.file = file;
        this.copySmall = opt.prepack();
        Set<String> keys = file.tensors().keySet();
        format = opt.format() != null ? opt.format() : CheckpointFormat.detect(file.path().toString(), keys, file.metadata());
        if (format == CheckpointFormat.TESSERA) throw new IOException(file.path() + ": a Tessera checkpoint: load its directory (with config.json) instead");
        Map<String, Object> hf = format == CheckpointFormat.HF ? hfConfig(opt) : Map.of();
        Names n = names(format, keys);

        int[] pw = shape(n.patchWeight);
        if (pw.length != 4 || pw[2] != pw[3]) throw new IOException(where(n.patchWeight) + " has shape " + Shapes.str(pw) + ", expected (dim, channels, P, P)");
        int dim = pw[0], channels = pw[1], patch = pw[2];
        boolean cls = keys.contains(n.cls);
        int[] pos = shape(n.pos);
        int tokens = pos.length == 3 && pos[0] == 1 ? pos[1] : pos.length == 2 ? pos[0] : -1;
        if (tokens < 1 || pos[pos.length - 1] != dim) throw new IOException(where(n.pos) + " has shape " + Shapes.str(pos) + ", expected (1, tokens, " + dim + ")");
        int grid = tokens - (cls ? 1 : 0);
        int gh = (int) Math.round(Math.sqrt(grid)), gw = gh;
        if (hf.get("image_size") instanceof Number s && grid == (s.intValue() / patch) * (s.intValue() / patch)) gh = gw = s.intValue() / patch;
        if (gh * gw != grid) throw new IOException(file.path() + ": " + grid + " position embeddings are not a square grid; non-square checkpoints are not supported");
        int depth = 0;
        while (keys.contains(n.block(depth, "norm1.weight"))) depth++;
        if (depth == 0) throw new IOException(file.path() + ": no encoder blocks (looked for " + n.block(0, "norm1.weight") + ")");
        int mlp = shape(n.block(0, "mlp.fc1.weight"))[0];
        int heads = opt.heads() > 0 ? opt.heads() : inferHeads(dim, hf);
        if (dim % heads != 0) throw new IOException(file.path() + ": dim " + dim + " is not a multiple of " + heads + " heads");
        boolean hasHead = keys.contains(n.head + ".weight");
        boolean preLogits = n.preLogits != null && keys.contains(n.preLogits + ".weight");
        int classes = hasHead ? shape(n.head + ".weight")[0] : dim;
        boolean fcNorm = keys.contains(n.fcNorm + ".weight");
        float eps = hf.get("layer_norm_eps") instanceof Number e ? e.floatValue() : format == CheckpointFormat.HF ? 1e-12f : 1e-6f;
        int imgH = opt.imageHeight() > 0 ? opt.imageHeight() : gh * patch, imgW = opt.imageWidth() > 0 ? opt.imageWidth() : gw * patch;
        ViTConfig c;
        try {
            c = ViTConfig.of(imgH, imgW, channels, patch, dim, depth, heads, mlp, classes)
                    .withPool(cls ? ViTConfig.Pool.CLS : ViTConfig.Pool.GAP)
                    .withHead(preLogits ? ViTConfig.Head.MLP_TANH : ViTConfig.Head.LINEAR, false, fcNorm)
                    .withLnEps(eps);
        } catch (IllegalArgumentException e) {
            throw new IOException(file.path() + ": " + e.getMessage(), e);
        }
        config = c;
        labels = labels(hf, classes);

        // The mapping, Tessera name -> file key.
        map("patch_embed.weight", n.patchWeight, true);
        map("patch_embed.bias", n.patchBias, false);
        if (cls) map("cls_token", n.cls, false);
        if (c.gridH() == gh && c.gridW() == gw) {
            map("pos_embed", n.pos, false);
        } else {
            used.add(n.pos);
            built.put("pos_embed", resampledPositions(n.pos, cls, gh, gw, c, dim));
        }
        for (int i = 0; i < depth; i++) {
            for (String ln : new String[] {"norm1", "norm2"}) {
                map("blocks." + i + "." + ln + ".weight", n.block(i, ln + ".weight"), false);
                map("blocks." + i + "." + ln + ".bias", n.block(i, ln + ".bias"), false);
            }
            for (String lin : new String[] {"attn.proj", "mlp.fc1", "mlp.fc2"}) {
                map("blocks." + i + "." + lin + ".weight", n.block(i, lin + ".weight"), true);
                map("blocks." + i + "." + lin + ".bias", n.block(i, lin + ".bias"), false);
            }
            if (format == CheckpointFormat.HF) {
                built.put("blocks." + i + ".attn.qkv.weight", concat(n.hfQkv(i, "weight"), 3 * dim, dim));
                built.put("blocks." + i + ".attn.qkv.bias", concat(n.hfQkv(i, "bias"), 3 * dim));
                outIn.add("blocks." + i + ".attn.qkv.weight");
            } else {
                map("blocks." + i + ".attn.qkv.weight", n.block(i, "attn.qkv.weight"), true);
                map("blocks." + i + ".attn.qkv.bias", n.block(i, "attn.qkv.bias"), false);
            }
        }
        if (fcNorm) {
            map("fc_norm.weight", n.fcNorm + ".weight", false);
            map("fc_norm.bias", n.fcNorm + ".bias", false);
            // timm's avg-pool models with fc_norm keep an identity 'norm': nothing to map.
        } else {
            map("norm.weight", n.norm + ".weight", false);
            map("norm.bias", n.norm + ".bias", false);
        }
        if (preLogits) {
            int[] s = shape(n.preLogits + ".weight");
            if (s[0] != dim) throw new IOException(where(n.preLogits + ".weight") + " maps " + s[1] + " -> " + s[0] + "; only a pre-logits layer of the model width is supported");
            map("pre_logits.fc.weight", n.preLogits + ".weight", true);
            map("pre_logits.fc.bias", n.preLogits + ".bias", false);
        }
        if (hasHead) {
            map("head.weight", n.head + ".weight", true);
            map("head.bias", n.head + ".bias", false);
        } else {
            // A backbone without a classifier (ViTModel, timm num_classes=0): an identity head, so "logits" are the features.
            Tensor eye = Tensor.zeros(owned, dim, dim);
            for (int i = 0; i < dim; i++) eye.set(1f, i, i);
            built.put("head.weight", eye);
            built.put("head.bias", Tensor.zeros(owned, dim));
        }
        Set<String> unexpected = new TreeSet<>(keys);
        unexpected.removeAll(used);
        if (!unexpected.isEmpty()) {
            throw new IOException(file.path() + ": unexpected tensor" + (unexpected.size() > 1 ? "s " : " ") + String.join(", ", first(unexpected, 5))
                    + (unexpected.size() > 5 ? " (and " + (unexpected.size() - 5) + " more)" : "") + " for a " + format + " ViT");
        }
    }

    /** Opens and maps {@code path}; the result must be closed (a model built on it closes it). */
    public static PretrainedWeights open(Path path, Options opt) throws IOException {
        SafeTensors.File f = SafeTensors.open(path);
        try {
            return new PretrainedWeights(f, opt == null ? Options.AUTO : opt);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    public ViTConfig config() { return config; }

    public CheckpointFormat format() { return format; }

    /** Class names from the Hugging Face config's id2label, else null. */
    public List<String> labels() { return labels; }

    @Override
    public Tensor tensor(String name, int[] shape) {
        Tensor t = built.get(name);
        if (t == null) {
            String key = keyOf.get(name);
            if (key == null) throw new TensorException(file.path() + ": no tensor for '" + name + "' in this " + format + " checkpoint");
            t = copySmall && !outIn.contains(name) ? copy(key) : view(key);
        }
        if (t.numel() != Shapes.numel(shape)) {
            throw new TensorException(file.path() + ": tensor '" + keyOf.getOrDefault(name, name) + "' has shape " + t.shapeString() + ", expected " + Shapes.str(shape));
        }
        return t.reshape(shape);
    }

    @Override
    public boolean storedOutIn(String name) { return outIn.contains(name); }

    @Override
    public void close() {
        owned.close();
        file.close();
    }

    // ---------------------------------------------------------------- names

    /** Where each piece lives in one format's naming. */
    private record Names(String patchWeight, String patchBias, String cls, String pos, String blockPrefix,
                         Map<String, String> blockParts, String norm, String fcNorm, String preLogits, String head) {
        String block(int i, String part) {
            String p = part.substring(0, part.lastIndexOf('.')), kind = part.substring(part.lastIndexOf('.') + 1);
            String mapped = blockParts.getOrDefault(p, p);
            // torchvision's fused attention input projection is in_proj_weight / in_proj_bias, not in_proj.weight.
            return blockPrefix + i + "." + mapped + (mapped.endsWith("in_proj") ? "_" : ".") + kind;
        }

        String[] hfQkv(int i, String kind) {
            return new String[] {blockPrefix + i + ".attention.attention.query." + kind, blockPrefix + i + ".attention.attention.key." + kind,
                    blockPrefix + i + ".attention.attention.value." + kind};
        }
    }

    private static Names names(CheckpointFormat f, Set<String> keys) {
        return switch (f) {
            case TIMM -> new Names("patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed", "blocks.",
                    Map.of(), "norm", "fc_norm", null, "head");
            case TORCHVISION -> {
                // torchvision before 0.13 named the MLP's layers linear_1 / linear_2.
                boolean old = keys.contains("encoder.layers.encoder_layer_0.mlp.linear_1.weight");
                yield new Names("conv_proj.weight", "conv_proj.bias", "class_token", "encoder.pos_embedding", "encoder.layers.encoder_layer_",
                        Map.of("norm1", "ln_1", "norm2", "ln_2", "attn.qkv", "self_attention.in_proj", "attn.proj", "self_attention.out_proj",
                                "mlp.fc1", old ? "mlp.linear_1" : "mlp.0", "mlp.fc2", old ? "mlp.linear_2" : "mlp.3"),
                        "encoder.ln", "fc_norm", "heads.pre_logits", "heads.head");
            }
            case HF -> {
                String pre = "";
                for (String k : keys) if (k.endsWith("embeddings.patch_embeddings.projection.weight")) pre = k.substring(0, k.length() - "embeddings.patch_embeddings.projection.weight".length());
                yield new Names(pre + "embeddings.patch_embeddings.projection.weight", pre + "embeddings.patch_embeddings.projection.bias",
                        pre + "embeddings.cls_token", pre + "embeddings.position_embeddings", pre + "encoder.layer.",
                        Map.of("norm1", "layernorm_before", "norm2", "layernorm_after", "attn.proj", "attention.output.dense",
                                "mlp.fc1", "intermediate.dense", "mlp.fc2", "output.dense"),
                        pre + "layernorm", pre + "fc_norm", pre + "pooler.dense", "classifier");
            }
            case TESSERA -> throw new IllegalStateException();
        };
    }

    private void map(String ours, String key, boolean linearWeight) throws IOException {
        if (!file.tensors().containsKey(key)) throw new IOException(file.path() + ": missing tensor '" + key + "' (for " + ours + ") in this " + format + " checkpoint");
        keyOf.put(ours, key);
        used.add(key);
        if (linearWeight) {
            outIn.add(ours);
            int[] s = shape(key);
            if (s.length != 2 && !ours.equals("patch_embed.weight")) throw new IOException(where(key) + " has shape " + Shapes.str(s) + ", expected a 2-D (out, in) weight");
        }
    }

    private int[] shape(String key) throws IOException {
        SafeTensors.Info inf = file.tensors().get(key);
        if (inf == null) throw new IOException(file.path() + ": missing tensor '" + key + "' in this " + format + " checkpoint");
        return inf.shape();
    }

    private String where(String key) { return file.path() + ": tensor '" + key + "'"; }

    private static List<String> first(Set<String> s, int n) {
        List<String> out = new ArrayList<>();
        for (String x : s) if (out.size() < n) out.add(x);
        return out;
    }

    // ---------------------------------------------------------------- tensors

    /** The stored tensor as a view of the mapping when it is F32 and float-aligned, else converted into owned memory. */
    private Tensor view(String key) {
        SafeTensors.Info inf = file.tensors().get(key);
        int[] s = inf.shape();
        MemorySegment bytes;
        try {
            bytes = file.bytes(key);
        } catch (IOException e) {
            throw new TensorException(e.getMessage());
        }
        if (inf.dtype().equals("F32") && bytes.address() % 4 == 0 && java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN) {
            return new Tensor(bytes, 0, s, Shapes.contiguousStrides(s));
        }
        return copy(key);
    }

    /** The stored tensor converted to F32 in owned memory. */
    private Tensor copy(String key) {
        try {
            int[] s = file.tensors().get(key).shape();
            long n = Shapes.numel(s);
            MemorySegment dst = OffHeap.allocateFloats(owned, n);
            file.readInto(key, s, dst, 0);
            return new Tensor(dst, 0, s, Shapes.contiguousStrides(s));
        } catch (IOException e) {
            throw new TensorException(e.getMessage());
        }
    }

    private Tensor concat(String[] keys, int... shape) throws IOException {
        Tensor out = Tensor.zeros(owned, shape);
        long off = 0;
        for (String k : keys) {
            if (!file.tensors().containsKey(k)) throw new IOException(file.path() + ": missing tensor '" + k + "' in this " + format + " checkpoint");
            used.add(k);
            int[] s = shape(k);
            long part = Shapes.numel(shape) / keys.length;
            if (Shapes.numel(s) != part) throw new IOException(where(k) + " has shape " + Shapes.str(s) + ", expected " + part + " elements");
            file.readInto(k, s, out.segment(), off);
            off += part;
        }
        return out;
    }

    /** Position embeddings at another grid: class-token rows kept apart, the patch grid resampled bicubically. */
    private Tensor resampledPositions(String key, boolean cls, int gh, int gw, ViTConfig c, int dim) {
        float[] src = view(key).toArray();
        int skip = cls ? 1 : 0;
        float[] grid = java.util.Arrays.copyOfRange(src, skip * dim, src.length);
        float[] res = PositionEmbeddings.resample(grid, gh, gw, c.gridH(), c.gridW(), dim);
        Tensor out = Tensor.zeros(owned, c.tokens(), dim);
        float[] all = new float[c.tokens() * dim];
        System.arraycopy(src, 0, all, 0, skip * dim);
        System.arraycopy(res, 0, all, skip * dim, res.length);
        return out.copyFrom(all);
    }

    // ---------------------------------------------------------------- config helpers

    private Map<String, Object> hfConfig(Options opt) throws IOException {
        Path p = opt.hfConfig();
        if (p == null) {
            Path dir = file.path().toAbsolutePath().getParent();
            String base = file.path().getFileName().toString().replaceFirst("\\.safetensors$", "");
            for (Path cand : new Path[] {dir.resolve(base + ".config.json"), dir.resolve("config.json")}) {
                if (Files.isRegularFile(cand)) { p = cand; break; }
            }
        }
        if (p == null) return Map.of();
        Object o;
        try {
            o = Json.parse(Files.readString(p, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new IOException(p + ": corrupt JSON: " + e.getMessage());
        }
        if (!(o instanceof Map<?, ?> m)) throw new IOException(p + ": not a JSON object");
        @SuppressWarnings("unchecked") Map<String, Object> cfg = (Map<String, Object>) m;
        return cfg;
    }

    private int inferHeads(int dim, Map<String, Object> hf) throws IOException {
        if (hf.get("num_attention_heads") instanceof Number h) return h.intValue();
        String meta = file.metadata().getOrDefault("num_heads", file.metadata().get("heads"));
        if (meta != null) {
            try {
                return Integer.parseInt(meta.trim());
            } catch (NumberFormatException e) {
                throw new IOException(file.path() + ": metadata num_heads '" + meta + "' is not a number");
            }
        }
        // The papers' sizes: 64-wide heads for Ti, S, B and L; ViT-H has 16 heads of 80.
        if (dim == 1280) return 16;
        if (dim % 64 == 0) return dim / 64;
        throw new IOException(file.path() + ": cannot tell the number of heads of a dim-" + dim + " model from its tensors; pass it (--heads)");
    }

    private static List<String> labels(Map<String, Object> hf, int classes) {
        if (!(hf.get("id2label") instanceof Map<?, ?> m) || m.size() != classes) return null;
        List<String> out = new ArrayList<>();
        for (int i = 0; i < classes; i++) {
            Object v = m.get(Integer.toString(i));
            if (v == null) return null;
            out.add(v.toString());
        }
        return out;
    }
}
