package dev.tessera.vit.train;

import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.tensor.Shapes;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.vit.model.PositionEmbeddings;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;

/**
 * Fine-tuning as the ViT paper does it: the pre-trained model's weights, a new zero-initialised linear head for the new
 * classes, position embeddings resampled (bicubic, class token apart) when the resolution changes, and the patch
 * projection folded over channels when grey images meet an RGB model (timm's in_chans=1: the channel weights summed).
 */
public final class FineTune {
    private FineTune() {}

    /** The trainable config for new data: the source's architecture at the data's geometry with a fresh zero head. */
    public static ViTConfig configFor(ViTConfig source, int channels, int height, int width, int classes) {
        if (height % source.patch() != 0 || width % source.patch() != 0) {
            throw new IllegalArgumentException("data of " + height + "x" + width + " is not a multiple of the checkpoint's patch " + source.patch()
                    + "; resize the images (--dataset folder --image-size N) to a multiple of it");
        }
        return new ViTConfig(height, width, channels, source.patch(), source.dim(), source.depth(), source.heads(), source.mlpDim(), classes,
                source.pool(), source.posEmb(), source.fcNorm(), ViTConfig.Head.LINEAR, true, source.lnEps(), source.embDropout(),
                source.projDropout(), source.mlpDropout(), source.dropPath(), source.attnDropout(), source.spt(), source.lsa(), source.drloc());
    }

    /** Copies every weight but the head (and a dropped pre-logits layer) from source into target. */
    public static void initFrom(VisionTransformer source, VisionTransformer target) {
        copy(source, target, false);
    }

    /** Copies every weight, the head included, into a trainable model of the same architecture (e.g. a loaded checkpoint's). */
    public static void copyAll(VisionTransformer source, VisionTransformer target) {
        copy(source, target, true);
    }

    private static void copy(VisionTransformer source, VisionTransformer target, boolean withHead) {
        ViTConfig s = source.config(), t = target.config();
        for (Parameter p : target.parameters().all()) {
            String name = p.name();
            if (!withHead && name.startsWith("head.")) continue;             // stays zero: the new classifier
            Parameter q;
            try {
                q = source.parameters().get(name);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("the checkpoint has no '" + name + "' for the fine-tuned model", e);
            }
            float[] v = q.value().toArray();
            int[] qs = q.value().shape();
            if (source.parameters().storedOutIn(name)) {                     // (out, in) -> Tessera's (in, out)
                v = transpose(v, qs[0], qs[1]);
                qs = new int[] {qs[1], qs[0]};
            }
            int[] ps = p.value().shape();
            if (name.equals("patch_embed.weight") && s.channels() != t.channels()) {
                v = foldChannels(v, s.channels(), t.channels(), s.patch() * s.patch(), s.dim());
                qs = ps;
            } else if (name.equals("pos_embed") && !java.util.Arrays.equals(qs, ps)) {
                int skip = t.tokens() - t.patches();
                float[] grid = java.util.Arrays.copyOfRange(v, skip * s.dim(), v.length);
                float[] r = PositionEmbeddings.resample(grid, s.gridH(), s.gridW(), t.gridH(), t.gridW(), t.dim());
                float[] all = new float[t.tokens() * t.dim()];
                System.arraycopy(v, 0, all, 0, skip * t.dim());
                System.arraycopy(r, 0, all, skip * t.dim(), r.length);
                v = all;
                qs = ps;
            }
            if (!java.util.Arrays.equals(qs, ps)) {
                throw new IllegalArgumentException("weight '" + name + "': the checkpoint has " + Shapes.str(qs) + ", the fine-tuned model needs " + Shapes.str(ps));
            }
            Tensor dst = p.value();
            dst.copyFrom(v);
        }
    }

    static float[] transpose(float[] v, int rows, int cols) {
        float[] out = new float[v.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
        return out;
    }

    /** Patch projection (C_s * P * P, D) to (C_t * P * P, D): 3 -> 1 sums the channels, 1 -> 3 spreads one over three. */
    static float[] foldChannels(float[] w, int from, int to, int pp, int dim) {
        float[] out = new float[to * pp * dim];
        for (int c = 0; c < to; c++) {
            for (int k = 0; k < pp; k++) {
                for (int d = 0; d < dim; d++) {
                    float sum = 0;
                    if (to == 1) for (int cs = 0; cs < from; cs++) sum += w[(cs * pp + k) * dim + d];
                    else sum = w[(Math.min(c, from - 1) * pp + k) * dim + d] * (from == 1 ? 1f / to : 1f);
                    out[(c * pp + k) * dim + d] = sum;
                }
            }
        }
        return out;
    }
}
