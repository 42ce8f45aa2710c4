package dev.tessera.vit.model;

import java.util.SplittableRandom;

/**
 * Masked patch prediction's corruption and targets (ViT paper, appendix B.1.2), as plain functions: half of each
 * image's patches are corrupted; of those, 80% take a learnable [mask] embedding, 10% another random patch's embedding
 * and 10% stay as they are. The target of a corrupted patch is its mean colour quantised to 3 bits per channel: 8
 * classes for grey, 512 for RGB.
 */
public final class PatchCorruption {
    /** source[r] for patch row r of (B * N): r itself, another row of the same image, or MASK for the mask embedding. */
    public static final int MASK = -1;

    public record Draw(int[] source, boolean[] corrupted) {}

    private PatchCorruption() {}

    public static Draw draw(int batch, int patches, SplittableRandom rng) {
        int[] source = new int[batch * patches];
        boolean[] corrupted = new boolean[batch * patches];
        int[] order = new int[patches];
        for (int n = 0; n < batch; n++) {
            for (int i = 0; i < patches; i++) order[i] = i;
            for (int i = patches - 1; i > 0; i--) {          // Fisher-Yates: the first half are corrupted
                int j = rng.nextInt(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            int base = n * patches;
            for (int i = 0; i < patches; i++) source[base + i] = base + i;
            for (int k = 0; k < patches / 2; k++) {
                int r = base + order[k];
                corrupted[r] = true;
                double u = rng.nextDouble();
                if (u < 0.8) source[r] = MASK;
                else if (u < 0.9 && patches > 1) {
                    int other = rng.nextInt(patches - 1);
                    source[r] = base + (other >= order[k] ? other + 1 : other);
                }
            }
        }
        return new Draw(source, corrupted);
    }

    /**
     * Class of each patch: its mean colour in [0, 1] per channel, quantised to 3 bits (min(7, floor(8 m))), channels
     * combined as r * 64 + g * 8 + b. pixels (B, C, H, W) in [0, 1] -> (B * N) classes, patches in row-major order.
     */
    public static int[] targets(float[] pixels, int batch, int channels, int height, int width, int patch) {
        int gh = height / patch, gw = width / patch;
        int[] t = new int[batch * gh * gw];
        for (int n = 0; n < batch; n++) {
            for (int py = 0; py < gh; py++) {
                for (int px = 0; px < gw; px++) {
                    int cls = 0;
                    for (int c = 0; c < channels; c++) {
                        double s = 0;
                        for (int y = 0; y < patch; y++) {
                            for (int x = 0; x < patch; x++) s += pixels[((n * channels + c) * height + py * patch + y) * width + px * patch + x];
                        }
                        int q = (int) Math.min(7, Math.max(0, Math.floor(8 * s / (patch * patch))));
                        cls = cls * 8 + q;
                    }
                    t[(n * gh + py) * gw + px] = cls;
                }
            }
        }
        return t;
    }
}
