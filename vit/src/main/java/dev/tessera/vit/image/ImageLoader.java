package dev.tessera.vit.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Decodes PNG, JPEG, BMP or GIF through javax.imageio into planar (C, H, W) bytes, grey or RGB, resized to the model's
 * input with bilinear sampling. The declared size is read before any pixel is decoded, so a decompression bomb is
 * refused instead of exhausting the heap.
 */
public final class ImageLoader {
    /** 64 megapixels: far beyond any classification input, far below what would exhaust a default heap. */
    public static final long MAX_PIXELS = 64L << 20;

    private ImageLoader() {}

    public static BufferedImage read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": no such file");
        try (InputStream in = Files.newInputStream(file); ImageInputStream iis = ImageIO.createImageInputStream(in)) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) throw new IOException(file + ": not an image javax.imageio can decode (PNG, JPEG, BMP, GIF)");
            ImageReader r = readers.next();
            try {
                r.setInput(iis, true, true);
                long w = r.getWidth(0), h = r.getHeight(0);
                if (w <= 0 || h <= 0) throw new IOException(file + ": image of size " + w + "x" + h);
                if (w * h > MAX_PIXELS) throw new IOException(file + ": declared size " + w + "x" + h + " exceeds " + MAX_PIXELS + " pixels");
                return r.read(0);
            } finally {
                r.dispose();
            }
        } catch (IOException e) {
            throw e.getMessage() != null && e.getMessage().startsWith(file.toString()) ? e : new IOException(file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IOException(file + ": corrupt image (" + e + ")", e);
        }
    }

    /** (C, H, W) bytes of the image resized (bilinear, centre-aligned) to w x h; C = 1 averages R, G, B with ITU-R 601 weights. */
    public static byte[] toPlanar(BufferedImage img, int channels, int h, int w) {
        int sw = img.getWidth(), sh = img.getHeight();
        int[] argb = img.getRGB(0, 0, sw, sh, null, 0, sw);
        float[][] planes = new float[channels][sw * sh];
        for (int i = 0; i < argb.length; i++) {
            int p = argb[i];
            // Alpha is dropped, not composited: what PIL's convert('RGB') does.
            float r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
            if (channels == 1) planes[0][i] = 0.299f * r + 0.587f * g + 0.114f * b;
            else {
                planes[0][i] = r;
                planes[1][i] = g;
                planes[2][i] = b;
            }
        }
        byte[] out = new byte[channels * h * w];
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < h; y++) {
                float sy = Math.max(0, Math.min(sh - 1, (y + 0.5f) * sh / h - 0.5f));
                int y0 = (int) sy, y1 = Math.min(sh - 1, y0 + 1);
                float fy = sy - y0;
                for (int x = 0; x < w; x++) {
                    float sx = Math.max(0, Math.min(sw - 1, (x + 0.5f) * sw / w - 0.5f));
                    int x0 = (int) sx, x1 = Math.min(sw - 1, x0 + 1);
                    float fx = sx - x0;
                    float[] pl = planes[c];
                    float v = (1 - fy) * ((1 - fx) * pl[y0 * sw + x0] + fx * pl[y0 * sw + x1]) + fy * ((1 - fx) * pl[y1 * sw + x0] + fx * pl[y1 * sw + x1]);
                    out[(c * h + y) * w + x] = (byte) Math.round(Math.max(0, Math.min(255, v)));
                }
            }
        }
        return out;
    }
}
