package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.autograd.GradCheck;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.PositionEmbeddings;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.lang.foreign.Arena;
import net.jqwik.api.*;
import org.junit.jupiter.api.Test;

class ModelTest {

    @Test
    void sincosFollowsTheBigVisionFormula() {
        int gh = 2, gw = 3, dim = 8, d = dim / 4;
        float[] pe = PositionEmbeddings.sincos2d(gh, gw, dim);
        // token (y=1, x=2): [sin(2w_k), cos(2w_k), sin(1w_k), cos(1w_k)] with w_k = 10000^(-k/(d-1))
        int base = (1 * gw + 2) * dim;
        for (int k = 0; k < d; k++) {
            double w = Math.pow(10000, -(double) k / (d - 1));
            assertEquals(Math.sin(2 * w), pe[base + k], 1e-6);
            assertEquals(Math.cos(2 * w), pe[base + d + k], 1e-6);
            assertEquals(Math.sin(w), pe[base + 2 * d + k], 1e-6);
            assertEquals(Math.cos(w), pe[base + 3 * d + k], 1e-6);
        }
        assertThrows(IllegalArgumentException.class, () -> PositionEmbeddings.sincos2d(2, 2, 6));
    }

    @Test
    void presetsUseThePapersSizes() {
        ViTConfig b = ViTConfig.preset("B/16", 224, 224, 3, 1000);
        assertEquals(768, b.dim());
        assertEquals(12, b.depth());
        assertEquals(197, b.tokens());
        ViTConfig h = ViTConfig.preset("H/14", 224, 224, 3, 1000);
        assertEquals(1280, h.dim());
        assertEquals(32, h.depth());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ViTConfig.preset("B/16", 220, 224, 3, 10));
        assertTrue(e.getMessage().contains("multiple of patch"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ViTConfig.preset("X/16", 224, 224, 3, 10));
    }

    @Provide
    Arbitrary<ViTConfig.Pool> pools() { return Arbitraries.of(ViTConfig.Pool.values()); }

    @Property(tries = 16)
    void forwardShapesForEveryOption(@ForAll ViTConfig.Pool pool, @ForAll ViTConfig.PosEmb pos, @ForAll ViTConfig.Head head,
                                     @ForAll boolean threeChannels, @ForAll boolean fcNorm) {
        int c = threeChannels ? 3 : 1;
        ViTConfig cfg = ViTConfig.of(8, 12, c, 4, 16, 2, 2, 24, 5).withPool(pool).withPosEmb(pos).withHead(head, true, fcNorm);
        try (VisionTransformer vit = new VisionTransformer(cfg, 1); Workspace ws = new Workspace(); Arena a = Arena.ofShared()) {
            Tensor x = GradCheck.input(a, 3, 3, c, 8, 12).requiresGrad(false);
            Tensor logits = vit.forward(Tape.inference(ws), x, 0);
            assertArrayEquals(new int[] {3, 5}, logits.shape());
            // zero-initialised linear head: all logits equal the (zero) bias
            if (head == ViTConfig.Head.LINEAR) for (float v : logits.toArray()) assertEquals(0f, v);
            TensorException e = assertThrows(TensorException.class, () -> vit.forward(Tape.inference(ws), GradCheck.input(a, 1, 3, c, 12, 8), 0));
            assertTrue(e.getMessage().contains("(B, " + c + ", 8, 12)"), e.getMessage());
        }
    }

    @Test
    void wholeModelGradientsMatchCentralDifferences() {
        ViTConfig cfg = ViTConfig.of(4, 4, 1, 2, 8, 1, 2, 12, 3);
        try (VisionTransformer vit = new VisionTransformer(cfg, 5); Arena a = Arena.ofShared()) {
            Tensor x = GradCheck.input(a, 9, 2, 1, 4, 4).requiresGrad(false);
            Tensor[] params = vit.parameters().all().stream().map(Parameter::value).toArray(Tensor[]::new);
            // Unit-scale values everywhere: with the zero class token and 0.02 position embeddings the final LayerNorm of
            // the class row sees a variance of ~1e-4, where no finite difference is accurate.
            java.util.Random r = new java.util.Random(3);
            for (Tensor p : params) {
                p.setGrad(null); // the checker owns the gradients here
                for (long i = 0; i < p.numel(); i++) p.setFlat(i, (float) (0.5 * r.nextGaussian()));
            }
            GradCheck.check("ViT", (t, in) -> vit.forward(t, x, 0), 1e-2, 5e-3, 5e-2, params);
        }
    }

    @Test
    void shiftedPatchTokenizationShiftsAKnownImageDiagonally() {
        try (Arena a = Arena.ofShared()) {
            Tensor img = Tensor.zeros(a, 1, 1, 4, 4);
            for (int i = 0; i < 16; i++) img.setFlat(i, i + 1);          // 1..16, row by row
            Tensor out = Tensor.zeros(a, 1, 5, 4, 4);
            dev.tessera.vit.model.ShiftedPatches.shift(img, out, 1);
            float[] o = out.toArray();
            for (int i = 0; i < 16; i++) assertEquals(i + 1, o[i], "channel 0 is the image");
            // shift 1 (-1,-1): out(y,x) = in(y+1, x+1)
            assertEquals(6f, o[16]);            // (0,0) <- (1,1)
            assertEquals(0f, o[16 + 15]);       // (3,3) <- outside
            // shift 2 (-1,+1): out(y,x) = in(y+1, x-1)
            assertEquals(0f, o[32]);            // (0,0) <- (1,-1)
            assertEquals(5f, o[32 + 1]);        // (0,1) <- (1,0)
            // shift 3 (+1,-1): out(y,x) = in(y-1, x+1)
            assertEquals(2f, o[48 + 4]);        // (1,0) <- (0,1)
            // shift 4 (+1,+1): out(y,x) = in(y-1, x-1)
            assertEquals(0f, o[64]);            // (0,0) <- outside
            assertEquals(1f, o[64 + 5]);        // (1,1) <- (0,0)
            assertEquals(11f, o[64 + 15]);      // (3,3) <- (2,2)
        }
    }

    @Test
    void localitySelfAttentionMasksTheDiagonalAndLearnsItsTemperature() {
        ViTConfig cfg = ViTConfig.of(8, 8, 1, 4, 8, 1, 2, 12, 3).withSmallDataMethods(true, true);
        assertEquals(5 * 16, cfg.patchDim());
        try (VisionTransformer vit = new VisionTransformer(cfg, 2); Workspace ws = new Workspace(); Arena a = Arena.ofShared()) {
            Parameter scale = vit.parameters().get("blocks.0.attn.scale");
            assertNotNull(scale, "LSA's temperature is a parameter");
            assertEquals((float) (1 / Math.sqrt(4)), scale.value().getFlat(0), 1e-7f, "initialised to d_h^-1/2");
            assertNotNull(vit.parameters().get("patch_embed.norm.weight"), "SPT's LayerNorm");
            Tensor x = GradCheck.input(a, 3, 2, 1, 8, 8).requiresGrad(false);
            Tape t = Tape.training(ws);
            vit.parameters().zeroGrad();
            Tensor loss = dev.tessera.engine.autograd.Ops.crossEntropy(t, vit.forward(t, x, 0), new int[] {0, 2}, null, 0f);
            t.backward(loss);
            assertNotEquals(0f, scale.grad().getFlat(0), "the temperature gets a gradient");
            t.reset();
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ViTConfig.of(4, 4, 1, 4, 8, 1, 2, 12, 3).withPool(ViTConfig.Pool.GAP).withSmallDataMethods(false, true));
        assertTrue(e.getMessage().contains("more than one token"), e.getMessage());
    }

    @Test
    void smallDataMethodsPassAWholeModelGradientCheck() {
        ViTConfig cfg = ViTConfig.of(4, 4, 1, 2, 8, 1, 2, 12, 3).withSmallDataMethods(true, true);
        try (VisionTransformer vit = new VisionTransformer(cfg, 7); Arena a = Arena.ofShared()) {
            Tensor x = GradCheck.input(a, 9, 2, 1, 4, 4).requiresGrad(false);
            Tensor[] params = vit.parameters().all().stream().map(Parameter::value).toArray(Tensor[]::new);
            java.util.Random r = new java.util.Random(4);
            for (Tensor p : params) {
                p.setGrad(null);
                for (long i = 0; i < p.numel(); i++) p.setFlat(i, (float) (0.5 * r.nextGaussian()));
            }
            GradCheck.check("ViT with SPT and LSA", (t, in) -> vit.forward(t, x, 0), 1e-2, 5e-3, 5e-2, params);
        }
    }
}
