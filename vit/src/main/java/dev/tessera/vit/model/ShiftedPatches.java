package dev.tessera.vit.model;

import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import java.lang.foreign.MemorySegment;

/**
 * Shifted Patch Tokenization's input (Lee et al. 2021): the image followed by its four diagonal shifts by {@code s}
 * pixels, zero-filled, as 5 C channels. Shift k moves the content by (dy, dx) = (-s,-s), (-s,+s), (+s,-s), (+s,+s):
 * out(y, x) = in(y - dy, x - dx). The input carries no gradient, so this is plain copying, row by row.
 */
public final class ShiftedPatches {
    private static final int[][] SHIFTS = {{-1, -1}, {-1, 1}, {1, -1}, {1, 1}};

    private ShiftedPatches() {}

    /** images (B, C, H, W) contiguous -> out (B, 5C, H, W) contiguous. */
    public static void shift(Tensor images, Tensor out, int s) {
        int b = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
        if (out.rank() != 4 || out.dim(0) != b || out.dim(1) != 5 * c || out.dim(2) != h || out.dim(3) != w) {
            throw new TensorException("shifted patches: out " + out.shapeString() + " for images " + images.shapeString());
        }
        MemorySegment src = images.segment(), dst = out.segment();
        long so = images.offset(), dOff = out.offset(), plane = (long) h * w;
        for (int n = 0; n < b; n++) {
            for (int ch = 0; ch < c; ch++) {
                long in = so + ((long) n * c + ch) * plane;
                MemorySegment.copy(src, in * 4, dst, (dOff + ((long) n * 5 * c + ch) * plane) * 4, plane * 4);
                for (int k = 0; k < 4; k++) {
                    int dy = SHIFTS[k][0] * s, dx = SHIFTS[k][1] * s;
                    long o = dOff + ((long) n * 5 * c + (long) (k + 1) * c + ch) * plane;
                    dst.asSlice(o * 4, plane * 4).fill((byte) 0);
                    int x0 = Math.max(0, dx), x1 = Math.min(w, w + dx);
                    if (x1 <= x0) continue;
                    for (int y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
                        MemorySegment.copy(src, (in + (long) (y - dy) * w + x0 - dx) * 4, dst, (o + (long) y * w + x0) * 4, (long) (x1 - x0) * 4);
                    }
                }
            }
        }
    }
}
