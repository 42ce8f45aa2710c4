package dev.tessera.vit.image;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.util.Locale;

/**
 * Classification preprocessing as the reference pipelines do it on PIL images: convert('RGB'), resize (the shorter
 * side to {@code resize}, or both sides when {@code squash}), centre crop, scale to [0, 1], normalise per channel.
 * The result is planar (C, H, W) floats, the layout the model takes.
 */
public record Preprocess(String name, int resize, boolean squash, int cropH, int cropW, PilResize.Filter filter, float[] mean, float[] std) {

    static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f}, IMAGENET_STD = {0.229f, 0.224f, 0.225f};
    static final float[] HALF = {0.5f, 0.5f, 0.5f};

    public Preprocess {
        if (resize < 1 || cropH < 1 || cropW < 1) throw new IllegalArgumentException("preprocess sizes must be positive");
        if (mean.length != std.length) throw new IllegalArgumentException("mean and std differ in length");
    }

    /** timm's default eval transform: bicubic resize of the shorter side to floor(size / 0.9), centre crop, mean = std = 0.5. */
    public static Preprocess timm(int size) {
        return new Preprocess("timm", (int) Math.floor(size / 0.9), false, size, size, PilResize.Filter.BICUBIC, HALF, HALF);
    }

    /** torchvision's ImageNet eval transform: bilinear resize of the shorter side to 256/224 of the crop, crop, ImageNet statistics. */
    public static Preprocess torchvision(int size) {
        return new Preprocess("torchvision", size * 256 / 224, false, size, size, PilResize.Filter.BILINEAR, IMAGENET_MEAN, IMAGENET_STD);
    }

    /** Hugging Face's ViTImageProcessor: bilinear resize to size x size (no crop), mean = std = 0.5. */
    public static Preprocess hf(int size) {
        return new Preprocess("hf", size, true, size, size, PilResize.Filter.BILINEAR, HALF, HALF);
    }

    public static Preprocess preset(String name, int size) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "timm" -> timm(size);
            case "torchvision", "tv" -> torchvision(size);
            case "hf", "huggingface" -> hf(size);
            default -> throw new IllegalArgumentException("unknown preprocessing '" + name + "': use timm, torchvision or hf");
        };
    }

    /** The image as PIL's convert('RGB') gives it: interleaved (h, w, 3) bytes. */
    public static byte[] rgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        ColorModel cm = img.getColorModel();
        Raster r = img.getRaster();
        if (!(cm instanceof IndexColorModel) && cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY) {
            // Grey (with or without alpha): the stored level, not getRGB's linear-to-sRGB conversion, which brightens it.
            // 16-bit grey is clipped at 255, not scaled: Pillow opens it as mode I, and I -> RGB clips.
            int bits = cm.getComponentSize(0);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int v = r.getSample(x, y, 0);
                    v = bits > 8 ? Math.min(v, 255) : bits < 8 ? v * 255 / ((1 << bits) - 1) : v;
                    int o = (y * w + x) * 3;
                    out[o] = out[o + 1] = out[o + 2] = (byte) v;
                }
            }
            return out;
        }
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                int p = row[x], o = (y * w + x) * 3;
                // Alpha is dropped, not composited: what convert('RGB') does.
                out[o] = (byte) (p >> 16);
                out[o + 1] = (byte) (p >> 8);
                out[o + 2] = (byte) p;
            }
        }
        return out;
    }

    /** Planar (channels, cropH, cropW) floats; channels 1 converts to grey with PIL's integer ITU-R 601 weights. */
    public float[] apply(BufferedImage img, int channels) {
        return apply(rgb(img), img.getWidth(), img.getHeight(), channels);
    }

    public float[] apply(byte[] rgb, int w, int h, int channels) {
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        int nw, nh;
        if (squash) {
            nw = cropW;
            nh = cropH;
        } else if (w <= h) {
            // torchvision's Resize(int): the shorter side to `resize`, the longer scaled and truncated.
            nw = resize;
            nh = (int) ((long) resize * h / w);
        } else {
            nh = resize;
            nw = (int) ((long) resize * w / h);
        }
        if ((long) nw * nh > ImageLoader.MAX_PIXELS) {
            // A 1 x 10000 strip would become 256 x 2,560,000 before the crop: refuse rather than exhaust the heap.
            throw new IllegalArgumentException("a " + w + "x" + h + " image resizes to " + nw + "x" + nh + " before the centre crop; that exceeds "
                    + ImageLoader.MAX_PIXELS + " pixels (extreme aspect ratio)");
        }
        byte[] px = (nw == w && nh == h) ? rgb : PilResize.resize(rgb, w, h, 3, nw, nh, filter);
        // torchvision's CenterCrop: offsets int(round((size - crop) / 2)), Python rounding half to even; zero padding when smaller.
        int top = (int) Math.rint((nh - cropH) / 2.0), left = (int) Math.rint((nw - cropW) / 2.0);
        float[] out = new float[channels * cropH * cropW];
        int plane = cropH * cropW;
        for (int y = 0; y < cropH; y++) {
            int sy = y + top;
            for (int x = 0; x < cropW; x++) {
                int sx = x + left;
                boolean in = sy >= 0 && sy < nh && sx >= 0 && sx < nw;
                int o = (sy * nw + sx) * 3;
                int r = in ? px[o] & 0xff : 0, g = in ? px[o + 1] & 0xff : 0, b = in ? px[o + 2] & 0xff : 0;
                if (channels == 1) {
                    int l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
                    out[y * cropW + x] = (l / 255f - mean[0]) / std[0];
                } else {
                    out[y * cropW + x] = (r / 255f - mean[0]) / std[0];
                    out[plane + y * cropW + x] = (g / 255f - mean[1]) / std[1];
                    out[2 * plane + y * cropW + x] = (b / 255f - mean[2]) / std[2];
                }
            }
        }
        return out;
    }
}
