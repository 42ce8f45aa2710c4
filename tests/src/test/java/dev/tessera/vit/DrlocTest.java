package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.autograd.GradCheck;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.model.RelativeLocalization;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DrlocTest {
    @Test
    void targetsAreTheNormalisedGridDistancesOfEachPair() {
        int gh = 3, gw = 4, extra = 1, tokens = extra + gh * gw;
        RelativeLocalization.Pairs p = RelativeLocalization.sample(2, tokens, extra, gh, gw, 50, new SplittableRandom(7));
        assertEquals(100, p.a().length);
        for (int r = 0; r < 100; r++) {
            int image = r / 50;
            int i = p.a()[r] - image * tokens - extra, j = p.b()[r] - image * tokens - extra;
            assertTrue(i >= 0 && i < gh * gw && j >= 0 && j < gh * gw, "pairs are patch tokens of their own image");
            assertEquals(Math.abs(i / gw - j / gw) / (float) gh, p.target()[2 * r], 1e-7f, "|du| / k");
            assertEquals(Math.abs(i % gw - j % gw) / (float) gw, p.target()[2 * r + 1], 1e-7f, "|dv| / k");
        }
        // The same seed draws the same pairs.
        assertArrayEquals(p.a(), RelativeLocalization.sample(2, tokens, extra, gh, gw, 50, new SplittableRandom(7)).a());
    }

    @Test
    void theLossReachesTheLocalisationMlpAndTheEncoder() {
        ViTConfig cfg = ViTConfig.of(8, 8, 1, 4, 8, 1, 2, 12, 3).withDrloc(0.1f);
        try (VisionTransformer vit = new VisionTransformer(cfg, 1); Workspace ws = new Workspace(); Arena a = Arena.ofShared()) {
            Tensor x = GradCheck.input(a, 2, 2, 1, 8, 8).requiresGrad(false);
            Tape t = Tape.training(ws);
            vit.parameters().zeroGrad();
            VisionTransformer.Output out = vit.forwardWithTokens(t, x, 0);
            Tensor loss = vit.drlocLoss(t, out.tokens(), 3);
            float l = loss.getFlat(0);
            assertTrue(l > 0 && Float.isFinite(l), "L1 loss " + l);
            t.backward(loss);
            assertTrue(norm(vit.parameters().get("drloc.fc1.weight").grad()) > 0, "the MLP learns");
            assertTrue(norm(vit.parameters().get("blocks.0.attn.qkv.weight").grad()) > 0, "the encoder gets the signal");
            t.reset();
        }
        ViTConfig plain = ViTConfig.of(8, 8, 1, 4, 8, 1, 2, 12, 3);
        try (VisionTransformer vit = new VisionTransformer(plain, 1)) {
            assertThrows(dev.tessera.engine.tensor.TensorException.class, () -> vit.parameters().get("drloc.fc1.weight"));
            assertThrows(IllegalStateException.class, () -> vit.drlocLoss(null, null, 0));
        }
    }

    private static double norm(Tensor g) {
        double s = 0;
        for (float v : g.toArray()) s += v * v;
        return s;
    }
}
