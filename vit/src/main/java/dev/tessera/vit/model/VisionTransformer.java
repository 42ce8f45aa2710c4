package dev.tessera.vit.model;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.nn.LayerNorm;
import dev.tessera.engine.nn.Linear;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.nn.ParameterSet;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;

/**
 * The Vision Transformer of Dosovitskiy et al. with the options of "Better plain ViT baselines": patch embedding as a
 * linear map of flattened patches (a conv with kernel = stride = P), class token or global average pooling, learned
 * or fixed 2-D sin-cos position embeddings, pre-LN blocks, a linear or MLP-tanh head.
 */
public final class VisionTransformer implements AutoCloseable {
    private final ViTConfig config;
    private final ParameterSet params;
    private final Linear patchEmbed;
    /** Shifted Patch Tokenization's LayerNorm over each flattened 5C-channel patch; null without SPT. */
    private final LayerNorm patchNorm;
    private final Parameter clsToken;
    private final Tensor posEmbed;
    private final EncoderBlock[] blocks;
    private final LayerNorm norm;
    private final LayerNorm fcNorm;
    private final Linear preLogits;
    private final Linear head;
    private volatile boolean releaseAfterUse;
    /** DRLoc's localisation MLP when the config asks for it, else null. */
    private final RelativeLocalization drloc;

    /** Image preprocessing and class names for {@link #classify}; set by the loaders. */
    private volatile dev.tessera.vit.image.Preprocess preprocess;
    private volatile java.util.List<String> labels;
    /** Each classifying thread's own workspace: weights are shared, activations are not. */
    private final ThreadLocal<dev.tessera.engine.tensor.Workspace> workspaces = new ThreadLocal<>();
    private final java.util.concurrent.ConcurrentLinkedQueue<dev.tessera.engine.tensor.Workspace> allWorkspaces = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** A freshly initialised, trainable model. */
    public VisionTransformer(ViTConfig c, long seed) {
        this(c, new ParameterSet(seed));
    }

    /** A frozen model over external weights (a mapped checkpoint), which it closes when it is closed. */
    public VisionTransformer(ViTConfig c, dev.tessera.engine.nn.ExternalWeights weights) {
        this(c, new ParameterSet(weights));
    }

    private VisionTransformer(ViTConfig c, ParameterSet ps) {
        this.config = c;
        this.params = ps;
        this.preprocess = new dev.tessera.vit.image.Preprocess("plain", c.imageHeight(), true, c.imageHeight(), c.imageWidth(),
                dev.tessera.vit.image.PilResize.Filter.BILINEAR, new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.5f, 0.5f, 0.5f});
        patchEmbed = new Linear(params, "patch_embed", c.patchDim(), c.dim(), true);
        patchNorm = c.spt() ? new LayerNorm(params, "patch_embed.norm", c.patchDim(), c.lnEps()) : null;
        clsToken = c.pool() == ViTConfig.Pool.CLS ? params.create("cls_token", false, 1, 1, c.dim()) : null;
        posEmbed = switch (c.posEmb()) {
            case LEARN -> params.truncNormal("pos_embed", false, 0.02f, c.tokens(), c.dim()).value();
            case SINCOS2D -> sincos(c);
            case NONE -> null;
        };
        blocks = new EncoderBlock[c.depth()];
        for (int i = 0; i < c.depth(); i++) {
            // Stochastic depth grows linearly with depth (the "linear rule" of Huang et al.).
            float dp = c.depth() > 1 ? c.dropPath() * i / (c.depth() - 1) : c.dropPath();
            blocks[i] = new EncoderBlock(params, "blocks." + i, c, dp);
        }
        boolean gapNorm = c.pool() == ViTConfig.Pool.GAP && c.fcNorm();
        norm = gapNorm ? null : new LayerNorm(params, "norm", c.dim(), c.lnEps());
        fcNorm = gapNorm ? new LayerNorm(params, "fc_norm", c.dim(), c.lnEps()) : null;
        preLogits = c.head() == ViTConfig.Head.MLP_TANH ? new Linear(params, "pre_logits.fc", c.dim(), c.dim(), true) : null;
        head = new Linear(params, "head", c.dim(), c.numClasses(), true);
        if (c.headZeroInit() && !params.isExternal()) head.weight.value().fill(0f);
        drloc = c.drloc() > 0 ? new RelativeLocalization(params, c.dim()) : null;
    }

    /** Fixed embedding: zero for the class token, sin-cos for the patch grid; not a parameter. */
    private Tensor sincos(ViTConfig c) {
        float[] grid = PositionEmbeddings.sincos2d(c.gridH(), c.gridW(), c.dim());
        Tensor t = Tensor.zeros(params.arena(), c.tokens(), c.dim());
        int skip = c.tokens() - c.patches();
        t.slice(0, skip, c.tokens()).copyFrom(grid);
        return t;
    }

    public ViTConfig config() { return config; }

    public ParameterSet parameters() { return params; }

    /**
     * images: (B, C, H, W), normalised -> logits (B, classes). A training tape records for backward and applies
     * dropout/drop-path drawn from {@code seed}; an inference tape does neither.
     */
    public Tensor forward(Tape tape, Tensor images, long seed) {
        int batch = images.dim(0);
        if (!tape.recording()) {
            int per = BatchChunks.imagesPerChunk(batch, config.tokens());
            if (per < batch) return forwardInChunks(tape, images, per);
        }
        return forwardWithTokens(tape, images, seed).logits();
    }

    /**
     * Inference a chunk of images at a time ({@link BatchChunks}), each chunk's temporaries released before the next:
     * the logits are those of the whole batch, row for row.
     */
    private Tensor forwardInChunks(Tape tape, Tensor images, int per) {
        dev.tessera.engine.tensor.Workspace ws = tape.workspace();
        int batch = images.dim(0), chunks = (batch + per - 1) / per;
        Tensor logits = ws.allocate(batch, config.numClasses());
        // Mapped weights released after each block would be unloaded under another worker's feet.
        int workers = releaseAfterUse ? 1 : DataParallel.inference(this, chunks);
        // Worker w takes a contiguous run of chunks; each writes only its own rows of the logits.
        DataParallel.forEachWorker(ws, workers, (w, own) -> {
            Tape t = w == 0 ? tape : Tape.of(own, false, tape.kernels());
            for (int q = DataParallel.share(chunks, workers, w), qEnd = DataParallel.share(chunks, workers, w + 1); q < qEnd; q++) {
                int i0 = q * per, i1 = Math.min(batch, i0 + per);
                dev.tessera.engine.tensor.Workspace.Mark m = own.mark();
                logits.slice(0, i0, i1).copyFrom(forwardWithTokens(t, images.slice(0, i0, i1), 0).logits());
                own.release(m);
            }
        });
        return logits;
    }

    /** The logits and the final (normalised) tokens (B, T, D), which DRLoc's loss reads. */
    public record Output(Tensor logits, Tensor tokens) {}

    public Output forwardWithTokens(Tape tape, Tensor images, long seed) {
        return forwardWithTokens(tape, images, seed, null);
    }

    /**
     * As above with {@code patchHook} applied to the patch embeddings (B, N, D) before the class token and position
     * embeddings join them: masked patch prediction corrupts them there.
     */
    public Output forwardWithTokens(Tape tape, Tensor images, long seed, java.util.function.UnaryOperator<Tensor> patchHook) {
        ViTConfig c = config;
        Tensor x = embed(tape, images, seed, patchHook);
        int b = images.dim(0);
        if (tape.recording()) {
            for (int i = 0; i < blocks.length; i++) x = blocks[i].forward(tape, x, seed * 1_000_003L + i);
        } else {
            // Inference keeps nothing for backward: each block's output is copied aside and its temporaries released.
            dev.tessera.engine.tensor.Workspace ws = tape.workspace();
            Tensor[] keep = {ws.allocate(x.shape()), ws.allocate(x.shape())};
            for (int i = 0; i < blocks.length; i++) {
                dev.tessera.engine.tensor.Workspace.Mark m = ws.mark();
                Tensor y = blocks[i].forward(tape, x, seed * 1_000_003L + i);
                keep[i & 1].copyFrom(y);
                ws.release(m);
                x = keep[i & 1];
                if (releaseAfterUse) blocks[i].unloadMappedWeights();
            }
        }
        Tensor pooled;
        if (c.pool() == ViTConfig.Pool.CLS) {
            x = norm.forward(tape, x);
            pooled = Ops.reshape(tape, Ops.slice(tape, x, 1, 0, 1), b, c.dim());
        } else {
            if (norm != null) x = norm.forward(tape, x);
            pooled = Ops.mean(tape, x, 1);                                  // (B, D)
            if (fcNorm != null) pooled = fcNorm.forward(tape, pooled);
        }
        if (preLogits != null) pooled = preLogits.forward(tape, pooled, Activation.TANH, null);
        return new Output(head.forward(tape, pooled), x);
    }

    /** DRLoc's loss on the final tokens, pairs drawn from {@code seed}; the config must have DRLoc on. */
    public Tensor drlocLoss(Tape tape, Tensor tokens, long seed) {
        if (drloc == null) throw new IllegalStateException("this model has no DRLoc head (its config has drloc = 0)");
        ViTConfig c = config;
        RelativeLocalization.Pairs pairs = RelativeLocalization.sample(tokens.dim(0), c.tokens(), c.tokens() - c.patches(),
                c.gridH(), c.gridW(), RelativeLocalization.PAIRS, new java.util.SplittableRandom(seed));
        return drloc.loss(tape, tokens, pairs);
    }

    /** Patch embedding, class token, position embeddings and embedding dropout: images -> (B, T, D). */
    private Tensor embed(Tape tape, Tensor images, long seed) {
        return embed(tape, images, seed, null);
    }

    private Tensor embed(Tape tape, Tensor images, long seed, java.util.function.UnaryOperator<Tensor> patchHook) {
        ViTConfig c = config;
        if (images.rank() != 4 || images.dim(1) != c.channels() || images.dim(2) != c.imageHeight() || images.dim(3) != c.imageWidth()) {
            throw new TensorException("ViT expects images (B, " + c.channels() + ", " + c.imageHeight() + ", " + c.imageWidth()
                    + "), got " + images.shapeString());
        }
        int b = images.dim(0), p = c.patch();
        Tensor pixels = images.contiguous(tape.workspace());
        int ch = c.channels();
        if (c.spt()) {
            Tensor shifted = tape.workspace().allocate(b, 5 * ch, c.imageHeight(), c.imageWidth());
            ShiftedPatches.shift(pixels, shifted, p / 2);
            pixels = shifted;
            ch *= 5;
        }
        // (B, C, gh, P, gw, P) -> (B, gh, gw, C, P, P): each patch flattened in (c, y, x) order, as a conv weight is.
        Tensor patches = pixels
                .reshape(b, ch, c.gridH(), p, c.gridW(), p)
                .permute(0, 2, 4, 1, 3, 5)
                .contiguous(tape.workspace())
                .reshape(b, c.patches(), c.patchDim());
        if (patchNorm != null) patches = patchNorm.forward(tape, patches);
        Tensor x = patchEmbed.forward(tape, patches);                     // (B, N, D)
        if (patchHook != null) x = patchHook.apply(x);
        if (clsToken != null) x = Ops.concat(tape, 1, Ops.expand(tape, clsToken.value(), b), x); // (B, T, D)
        if (posEmbed != null) x = Ops.add(tape, x, posEmbed);
        x = Ops.dropout(tape, x, c.embDropout(), seed);
        return x;
    }

    /**
     * What the analysis pictures need, in inference mode: per block, the attention probabilities
     * attention[layer][image][head][i][j] (computed explicitly: the fused kernel never forms them) and the block's
     * output averaged over tokens, pooled[layer][image][d].
     */
    public record Inside(float[][][][][] attention, float[][][] pooled) {}

    public Inside inspect(dev.tessera.engine.tensor.Workspace ws, Tensor images) {
        Tape tape = Tape.inference(ws);
        Tensor x = embed(tape, images, 0);
        float[][][][][] att = new float[blocks.length][][][][];
        float[][][] pooled = new float[blocks.length][][];
        int b = images.dim(0), t = config.tokens(), d = config.dim();
        for (int l = 0; l < blocks.length; l++) {
            att[l] = blocks[l].attentionProbabilities(tape, x);
            x = blocks[l].forward(tape, x, 0);
            float[] v = x.contiguous(ws).toArray();
            pooled[l] = new float[b][d];
            for (int n = 0; n < b; n++) {
                for (int k = 0; k < t; k++) for (int j = 0; j < d; j++) pooled[l][n][j] += v[(n * t + k) * d + j] / t;
            }
        }
        tape.reset();
        return new Inside(att, pooled);
    }

    /** The position embedding (T, D) as floats, or null when there is none. */
    public float[] positionEmbedding() { return posEmbed == null ? null : posEmbed.toArray(); }

    // ---------------------------------------------------------------- loading and classifying

    /**
     * Loads a model for inference: a Tessera checkpoint directory (or run directory), or a timm, torchvision or
     * Hugging Face safetensors file, whose format is detected and whose F32 weights are used in place from the mapping.
     */
    public static VisionTransformer load(java.nio.file.Path path) throws java.io.IOException {
        return load(path, dev.tessera.vit.io.PretrainedWeights.Options.AUTO);
    }

    public static VisionTransformer load(java.nio.file.Path path, dev.tessera.vit.io.PretrainedWeights.Options options) throws java.io.IOException {
        if (java.nio.file.Files.isDirectory(path)) return dev.tessera.vit.io.Checkpoint.loadForInference(path);
        if (!java.nio.file.Files.isRegularFile(path)) throw new java.io.IOException(path + ": no such file or directory");
        dev.tessera.vit.io.PretrainedWeights w = dev.tessera.vit.io.PretrainedWeights.open(path, options);
        VisionTransformer m;
        try {
            m = new VisionTransformer(w.config(), w);
        } catch (RuntimeException e) {
            w.close();
            String msg = String.valueOf(e.getMessage());
            throw new java.io.IOException(msg.startsWith(path.toString()) ? msg : path + ": " + msg, e);
        }
        int size = m.config.imageHeight();
        m.preprocess = switch (w.format()) {
            case TIMM -> dev.tessera.vit.image.Preprocess.timm(size);
            case HF -> dev.tessera.vit.image.Preprocess.hf(size);
            default -> dev.tessera.vit.image.Preprocess.torchvision(size);
        };
        if (m.config.imageWidth() != size) m.preprocess = new dev.tessera.vit.image.Preprocess(m.preprocess.name(), size, true, size, m.config.imageWidth(), m.preprocess.filter(), m.preprocess.mean(), m.preprocess.std());
        m.labels = w.labels();
        if (options.prepack()) m.prepackWeights();
        return m;
    }

    /**
     * Packs every linear weight once into the GEMM's panel layout, for a frozen model that will run many forwards;
     * mapped originals are copied one at a time into a staging buffer of our own and packed from there (no mapped
     * segment may reach a vector kernel: see {@link Linear#prepack(dev.tessera.engine.kernels.Kernels,
     * java.lang.foreign.Arena, java.lang.foreign.MemorySegment)}), and their pages released afterwards (they fault
     * back in only if something reads them). Returns the
     * bytes of packed weights.
     */
    public long prepackWeights() {
        dev.tessera.engine.kernels.Kernels k = dev.tessera.engine.kernels.KernelProvider.get();
        java.util.List<Linear> layers = new java.util.ArrayList<>();
        layers.add(patchEmbed);
        for (EncoderBlock b : blocks) layers.addAll(java.util.List.of(b.qkv, b.proj, b.fc1, b.fc2));
        if (preLogits != null) layers.add(preLogits);
        layers.add(head);
        long bytes = 0, staged = 0;
        for (Linear l : layers) staged = Math.max(staged, l.stagingFloats());
        try (java.lang.foreign.Arena staging = java.lang.foreign.Arena.ofShared()) {
            java.lang.foreign.MemorySegment buffer = staged == 0 ? null : dev.tessera.engine.tensor.OffHeap.allocateFloats(staging, staged);
            for (Linear l : layers) {
                bytes += l.prepack(k, params.arena(), buffer);
                l.unloadMappedWeight();
            }
        }
        return bytes;
    }

    /**
     * With {@code on}, every inference forward hands each encoder block's mapped weight pages back to the OS once the
     * block is done (they fault back in from the page cache when read again). For a process that reads a checkpoint
     * once, such as a one-image {@code predict}: its resident set holds about one block of weights at a time instead
     * of the whole checkpoint. Each further forward pays the page faults again.
     */
    public void releaseWeightsAfterUse(boolean on) { releaseAfterUse = on; }

    public dev.tessera.vit.image.Preprocess preprocess() { return preprocess; }

    public void setPreprocess(dev.tessera.vit.image.Preprocess p) { this.preprocess = java.util.Objects.requireNonNull(p); }

    /** Class names, or null when the checkpoint has none (indices are printed then). */
    public java.util.List<String> labels() { return labels; }

    public void setLabels(java.util.List<String> l) {
        if (l != null && l.size() != config.numClasses()) throw new IllegalArgumentException(l.size() + " labels for a model of " + config.numClasses() + " classes");
        this.labels = l == null ? null : java.util.List.copyOf(l);
    }

    /** One class of a prediction. */
    public record Prediction(int index, String label, float probability) {}

    /** The k most probable classes of an image, preprocessed with {@link #preprocess()}. */
    public java.util.List<Prediction> classify(java.awt.image.BufferedImage image, int k) {
        return classify(java.util.List.of(image), k).get(0);
    }

    public java.util.List<java.util.List<Prediction>> classify(java.util.List<java.awt.image.BufferedImage> images, int k) {
        ViTConfig c = config;
        int per = c.channels() * c.imageHeight() * c.imageWidth();
        float[] x = new float[images.size() * per];
        for (int i = 0; i < images.size(); i++) System.arraycopy(preprocess.apply(images.get(i), c.channels()), 0, x, i * per, per);
        float[] logits = logits(x, images.size());
        java.util.List<java.util.List<Prediction>> out = new java.util.ArrayList<>();
        for (int i = 0; i < images.size(); i++) out.add(top(java.util.Arrays.copyOfRange(logits, i * c.numClasses(), (i + 1) * c.numClasses()), k));
        return out;
    }

    /** The k most probable classes from one image's logits, by softmax. */
    public java.util.List<Prediction> top(float[] logits, int k) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float v : logits) max = Math.max(max, v);
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(logits[i] - max);
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < p.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        java.util.List<Prediction> out = new java.util.ArrayList<>();
        java.util.List<String> names = labels;
        for (int i = 0; i < Math.min(Math.max(1, k), p.length); i++) {
            int idx = order[i];
            out.add(new Prediction(idx, names != null ? names.get(idx) : Integer.toString(idx), (float) (p[idx] / sum)));
        }
        return out;
    }

    /**
     * Logits (batch, classes) for already preprocessed planar images (batch, C, H, W) in a float array. Safe to call
     * from many threads at once: each has its own workspace.
     */
    public float[] logits(float[] images, int batch) {
        ViTConfig c = config;
        long per = (long) c.channels() * c.imageHeight() * c.imageWidth();
        if (batch < 1 || images.length != batch * per) {
            throw new TensorException("classify: " + images.length + " floats are not " + batch + " images of (" + c.channels() + ", "
                    + c.imageHeight() + ", " + c.imageWidth() + ")");
        }
        dev.tessera.engine.tensor.Workspace ws = workspaces.get();
        if (ws == null) {
            ws = new dev.tessera.engine.tensor.Workspace();
            workspaces.set(ws);
            allWorkspaces.add(ws);
        }
        Tape tape = Tape.inference(ws);
        try {
            Tensor in = ws.allocate(batch, c.channels(), c.imageHeight(), c.imageWidth()).copyFrom(images);
            if (FIRST_FORWARD.compareAndSet(false, true)) {
                // The JVM's first forward runs its kernels interpreted until C2 has compiled them, and the compiler
                // threads need cores for that: on half the pool, ViT-B/16's first logits came 0.7 s sooner on two
                // cores (2.5-3.3 s against 3.4-3.9; later forwards unchanged).
                return dev.tessera.engine.kernels.Parallel.withThreads(Math.max(1, dev.tessera.engine.kernels.Parallel.threads() / 2),
                        () -> forward(tape, in, 0).toArray());
            }
            return forward(tape, in, 0).toArray();
        } finally {
            tape.reset();
        }
    }

    /** Whether this JVM has run an inference forward yet (see {@link #logits}). */
    private static final java.util.concurrent.atomic.AtomicBoolean FIRST_FORWARD = new java.util.concurrent.atomic.AtomicBoolean();

    @Override
    public void close() {
        for (dev.tessera.engine.tensor.Workspace ws : allWorkspaces) ws.close();
        params.close();
    }
}
