package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.io.CheckpointFormat;
import dev.tessera.vit.io.PretrainedWeights;
import dev.tessera.vit.io.SafeTensors;
import dev.tessera.vit.model.PositionEmbeddings;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints written by bench/scripts/make_vit_fixtures.py from a random torchvision ViT with odd sizes (image 30,
 * patch 6, dim 36, 3 heads, MLP 70, 2 layers, 7 classes), in the three namings, against torchvision's own logits.
 */
class PretrainedImportTest {
    @TempDir Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(PretrainedImportTest.class.getResource("/fixtures/vit/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new AssertionError("missing test fixture " + name, e);
        }
    }

    static float[] io(String name) throws IOException {
        return floats("tiny_io.safetensors", name);
    }

    /** One tensor of a fixture file, as floats. */
    static float[] floats(String file, String name) throws IOException {
        try (SafeTensors.File f = SafeTensors.open(fixture(file)); Arena a = Arena.ofConfined()) {
            int[] s = f.tensors().get(name).shape();
            long n = 1;
            for (int d : s) n *= d;
            MemorySegment m = a.allocate(n * 4);
            f.readInto(name, s, m, 0);
            return m.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** The bar: max |d logit| <= 1e-4 * max |logit| + 1e-4. */
    static void assertLogits(String what, float[] ref, float[] got) {
        assertEquals(ref.length, got.length, what);
        double maxRef = 0, maxD = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxD = Math.max(maxD, Math.abs(ref[i] - got[i]));
        }
        assertTrue(maxD <= 1e-4 * maxRef + 1e-4, what + ": max |d logit| " + maxD + " against max |logit| " + maxRef);
    }

    static final PretrainedWeights.Options HEADS3 = PretrainedWeights.Options.AUTO.withHeads(3);

    @Test
    void torchvisionTimmAndHfNamingsGiveTorchvisionsLogits() throws IOException {
        float[] x = io("input"), ref = io("logits");
        for (String[] c : new String[][] {{"tiny_torchvision.safetensors", "TORCHVISION"}, {"tiny_timm.safetensors", "TIMM"}, {"tiny_hf.safetensors", "HF"}}) {
            // The Hugging Face file finds its heads, eps and labels in tiny_hf.config.json; the others are told the heads.
            PretrainedWeights.Options opt = c[1].equals("HF") ? PretrainedWeights.Options.AUTO : HEADS3;
            try (VisionTransformer m = VisionTransformer.load(fixture(c[0]), opt)) {
                ViTConfig cfg = m.config();
                assertEquals(List.of(30, 30, 3, 6, 36, 2, 3, 70, 7), List.of(cfg.imageHeight(), cfg.imageWidth(), cfg.channels(), cfg.patch(),
                        cfg.dim(), cfg.depth(), cfg.heads(), cfg.mlpDim(), cfg.numClasses()), c[0]);
                assertEquals(1e-6f, cfg.lnEps(), c[0]);
                assertLogits(c[0], ref, m.logits(x, 2));
                assertEquals(c[1].equals("HF") ? "class3" : "3", m.top(new float[] {0, 0, 0, 9, 0, 0, 0}, 1).get(0).label());
            }
        }
    }

    @Test
    void aHuggingFaceViTModelGivesItsPooledFeatures() throws IOException {
        // No classifier, no "vit." prefix, a pooler: an MLP-tanh head and an identity classifier, so "logits" = pooled.
        try (VisionTransformer m = VisionTransformer.load(fixture("tiny_hf_vitmodel.safetensors"))) {
            assertEquals(ViTConfig.Head.MLP_TANH, m.config().head());
            assertEquals(36, m.config().numClasses());
            assertLogits("ViTModel pooler", io("pooled"), m.logits(io("input"), 2));
        }
    }

    @Test
    void formatIsDetected() throws IOException {
        for (String[] c : new String[][] {{"tiny_torchvision.safetensors", "TORCHVISION"}, {"tiny_timm.safetensors", "TIMM"}, {"tiny_hf.safetensors", "HF"}}) {
            try (PretrainedWeights w = PretrainedWeights.open(fixture(c[0]), HEADS3)) {
                assertEquals(CheckpointFormat.valueOf(c[1]), w.format());
            }
        }
    }

    @Test
    void bf16WeightsAreConverted() throws IOException {
        try (VisionTransformer m = VisionTransformer.load(fixture("tiny_torchvision_bf16.safetensors"), HEADS3)) {
            assertLogits("bf16", io("logits_bf16"), m.logits(io("input"), 2));
        }
    }

    @Test
    void weightsAreUsedFromTheMappingNotCopied() throws IOException {
        try (SafeTensors.File f = SafeTensors.open(fixture("tiny_timm.safetensors"));
             VisionTransformer m = VisionTransformer.load(fixture("tiny_timm.safetensors"), HEADS3)) {
            MemorySegment w = m.parameters().get("blocks.1.mlp.fc1.weight").value().segment();
            assertTrue(w.isMapped(), "an F32 weight should be a view of the mapped file");
            assertEquals(f.tensors().get("blocks.1.mlp.fc1.weight").end() - f.tensors().get("blocks.1.mlp.fc1.weight").begin(), w.byteSize());
        }
    }

    @Test
    void theHeadsMustBeKnown() {
        // dim 36 is not a multiple of 64 and the torchvision file carries no config: the error says what to pass.
        IOException e = assertThrows(IOException.class, () -> VisionTransformer.load(fixture("tiny_torchvision.safetensors")));
        assertTrue(e.getMessage().contains("--heads"), e.getMessage());
    }

    /** A copy of the torchvision fixture with its tensors edited: the errors must name file, key and the difference. */
    Path edited(java.util.function.Consumer<Map<String, SafeTensors.Entry>> edit, Arena arena) throws IOException {
        Map<String, SafeTensors.Entry> m = new LinkedHashMap<>();
        try (SafeTensors.File f = SafeTensors.open(fixture("tiny_torchvision.safetensors"))) {
            for (var e : f.tensors().entrySet()) {
                int[] s = e.getValue().shape();
                long n = (e.getValue().end() - e.getValue().begin()) / 4;
                MemorySegment seg = arena.allocate(n * 4, 64);
                f.readInto(e.getKey(), s, seg, 0);
                m.put(e.getKey(), new SafeTensors.Entry(s, seg));
            }
        }
        edit.accept(m);
        Path p = dir.resolve("edited" + System.nanoTime() + ".safetensors");
        SafeTensors.write(p, m, Map.of());
        return p;
    }

    @Test
    void missingUnexpectedAndMisshapenTensorsAreNamed() throws IOException {
        try (Arena a = Arena.ofConfined()) {
            Path missing = edited(m -> m.remove("encoder.layers.encoder_layer_1.mlp.3.bias"), a);
            IOException e = assertThrows(IOException.class, () -> VisionTransformer.load(missing, HEADS3));
            assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("missing tensor 'encoder.layers.encoder_layer_1.mlp.3.bias'"), e.getMessage());

            Path extra = edited(m -> m.put("dist_token", new SafeTensors.Entry(new int[] {1, 1, 36}, a.allocate(36 * 4))), a);
            e = assertThrows(IOException.class, () -> VisionTransformer.load(extra, HEADS3));
            assertTrue(e.getMessage().contains("unexpected tensor dist_token"), e.getMessage());

            Path shape = edited(m -> m.put("encoder.layers.encoder_layer_0.ln_2.weight", new SafeTensors.Entry(new int[] {35}, a.allocate(35 * 4))), a);
            e = assertThrows(IOException.class, () -> VisionTransformer.load(shape, HEADS3));
            assertTrue(e.getMessage().contains("encoder_layer_0.ln_2.weight") && e.getMessage().contains("(35,)") && e.getMessage().contains("(36,)"), e.getMessage());

            Path notVit = edited(m -> m.remove("conv_proj.weight"), a);
            e = assertThrows(IOException.class, () -> VisionTransformer.load(notVit, PretrainedWeights.Options.AUTO.withHeads(3).withFormat(CheckpointFormat.TIMM)));
            assertTrue(e.getMessage().contains("missing tensor 'patch_embed.proj.weight'"), e.getMessage());
        }
    }

    @Test
    void anotherResolutionResamplesThePositionEmbeddings() throws IOException {
        try (VisionTransformer m = VisionTransformer.load(fixture("tiny_timm.safetensors"), HEADS3.withImageSize(42, 42))) {
            assertEquals(50, m.config().tokens());
            float[] logits = m.logits(new float[3 * 42 * 42], 1);
            for (float v : logits) assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void bicubicResamplingKeepsConstantsAndIsIdentityAtTheSameSize() {
        java.util.Random r = new java.util.Random(3);
        float[] g = new float[4 * 5 * 3];
        for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
        assertArrayEquals(g, PositionEmbeddings.resample(g, 4, 5, 4, 5, 3), 1e-6f);
        float[] c = new float[4 * 5 * 3];
        java.util.Arrays.fill(c, 0.7f);
        for (float v : PositionEmbeddings.resample(c, 4, 5, 7, 3, 3)) assertEquals(0.7f, v, 1e-5f);
        // Upsampling 2x: torch.nn.functional.interpolate([[0, 1]], size=4, mode='bicubic', align_corners=False) on a 1x2 row.
        float[] row = PositionEmbeddings.resample(new float[] {0, 1}, 1, 2, 1, 4, 1);
        assertArrayEquals(new float[] {-0.10546875f, 0.2265625f, 0.7734375f, 1.10546875f}, row, 1e-6f);
    }

    /** Releasing each block's mapped pages after use (predict's default for few images) changes no logit, pass after pass. */
    @Test
    void releasingMappedWeightsAfterUseKeepsTheLogits() throws Exception {
        float[] x = io("input");
        float[] one = java.util.Arrays.copyOf(x, x.length / 2);
        try (VisionTransformer kept = VisionTransformer.load(fixture("tiny_timm.safetensors"), HEADS3);
             VisionTransformer released = VisionTransformer.load(fixture("tiny_timm.safetensors"), HEADS3)) {
            released.releaseWeightsAfterUse(true);
            float[] ref = kept.logits(one, 1);
            for (int pass = 0; pass < 3; pass++) assertArrayEquals(ref, released.logits(one, 1), "pass " + pass);
        }
    }

    @Test
    void manyThreadsClassifyingAtOnceAgreeWithOne() throws Exception {
        float[] x = io("input");
        float[] one = java.util.Arrays.copyOf(x, x.length / 2);
        try (VisionTransformer m = VisionTransformer.load(fixture("tiny_timm.safetensors"), HEADS3)) {
            float[] ref = m.logits(one, 1);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[]>> fs = new java.util.ArrayList<>();
                for (int i = 0; i < 16; i++) fs.add(pool.submit(() -> m.logits(one, 1)));
                for (Future<float[]> f : fs) assertArrayEquals(ref, f.get());
            } finally {
                pool.shutdown();
            }
        }
    }

    /** Random byte mutations and truncations of a real checkpoint: loading either works or names the file; never anything else. */
    @net.jqwik.api.Property(tries = 60)
    void mutatedCheckpointsFailCleanly(@net.jqwik.api.ForAll("mutations") int[] m) throws IOException {
        byte[] b = Files.readAllBytes(fixture("tiny_timm.safetensors"));
        int len = m[0] == 0 ? b.length : 1 + Math.floorMod(m[1], b.length);
        byte[] c = java.util.Arrays.copyOf(b, len);
        // Most mutations land in the header (its first ~6 KB), where the parsing is.
        for (int i = 2; i + 1 < m.length; i += 2) {
            int at = Math.floorMod(m[i], Math.min(c.length, m[i] % 3 == 0 ? c.length : 6000));
            c[at] = (byte) m[i + 1];
        }
        Path p = Files.createTempFile("tessera-mut", ".safetensors"); // (jqwik properties get no @TempDir)
        try {
            Files.write(p, c);
            try (VisionTransformer v = VisionTransformer.load(p, HEADS3)) {
                float[] y = v.logits(new float[v.config().channels() * v.config().imageHeight() * v.config().imageWidth()], 1);
                assertEquals(v.config().numClasses(), y.length);
            } catch (IOException e) {
                assertTrue(e.getMessage().contains(p.toString()), "error without the file name: " + e.getMessage());
            }
        } finally {
            Files.deleteIfExists(p);
        }
    }

    @net.jqwik.api.Provide
    net.jqwik.api.Arbitrary<int[]> mutations() {
        return net.jqwik.api.Arbitraries.integers().array(int[].class).ofMinSize(2).ofMaxSize(12);
    }

    @Test
    void closedModelsRefuseWork() throws IOException {
        VisionTransformer m = VisionTransformer.load(fixture("tiny_timm.safetensors"), HEADS3);
        m.close();
        assertThrows(RuntimeException.class, () -> m.logits(new float[3 * 30 * 30], 1));
        assertFalse(Files.notExists(fixture("tiny_timm.safetensors")));
    }
}
