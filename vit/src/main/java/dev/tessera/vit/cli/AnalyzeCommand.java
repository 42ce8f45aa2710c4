package dev.tessera.vit.cli;

import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import dev.tessera.vit.analysis.AttentionDistance;
import dev.tessera.vit.analysis.AttentionRollout;
import dev.tessera.vit.analysis.LinearCka;
import dev.tessera.vit.analysis.Pictures;
import dev.tessera.vit.data.Dataset;
import dev.tessera.vit.io.Checkpoint;
import dev.tessera.vit.model.ViTConfig;
import dev.tessera.vit.model.VisionTransformer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;

/**
 * {@code tessera analyze --checkpoint DIR --out DIR [--compare DIR]}: the papers' pictures of a trained model. Attention
 * rollout over test images, mean attention distance per layer and head, position-embedding similarity, and linear
 * CKA between the layers (of this model, or against --compare).
 */
final class AnalyzeCommand {
    private AnalyzeCommand() {}

    static int run(String[] argv, PrintStream out) throws IOException, InterruptedException {
        Args a = new Args(argv, Set.of(), Set.of("checkpoint", "out", "compare", "images", "cka-images", "data", "dataset", "threads"));
        String ck = a.str("checkpoint", null);
        if (ck == null) throw new UsageException("analyze needs --checkpoint DIR (a training run's OUT/checkpoint or OUT)");
        Path dir = CheckpointArgs.directory(ck);
        Path outDir = Path.of(a.str("out", dir.toAbsolutePath().getParent().resolve("analysis").toString()));
        int shown = a.integer("images", 16), ckaImages = a.integer("cka-images", 256);
        if (shown < 1 || ckaImages < 2) throw new UsageException("--images must be >= 1 and --cka-images >= 2");
        dev.tessera.engine.kernels.Parallel.setThreads(a.integer("threads", Runtime.getRuntime().availableProcessors()));
        try (VisionTransformer vit = Checkpoint.loadModel(dir); Workspace ws = new Workspace()) {
            ViTConfig c = vit.config();
            Dataset test = CheckpointArgs.testData(a, dir, c);
            float[] norm = CheckpointArgs.normalisation(dir);
            int n = Math.min(shown, test.count()), extra = c.tokens() - c.patches();

            // Rollout and attention distance over the first n test images.
            VisionTransformer.Inside inside;
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                inside = vit.inspect(ws, images(arena, test, n, norm));
            }
            int layers = inside.attention().length;
            double[][][] maps = new double[n][][];
            float[][][] raw = new float[n][][];
            String[] captions = new String[n];
            for (int k = 0; k < n; k++) {
                float[][][][] perLayer = new float[layers][][][];
                for (int l = 0; l < layers; l++) perLayer[l] = inside.attention()[l][k];
                double[][] r = AttentionRollout.rollout(perLayer);
                maps[k] = new double[c.gridH()][c.gridW()];
                for (int p = 0; p < c.patches(); p++) {
                    double v = 0;
                    if (extra > 0) v = r[0][extra + p];                       // what the class token draws on
                    else for (int q = 0; q < c.patches(); q++) v += r[q][p];   // GAP: what all tokens draw on
                    maps[k][p / c.gridW()][p % c.gridW()] = v;
                }
                raw[k] = greyImage(test, k);
                String[] names = test.classNames();
                int label = test.labels()[k];
                captions[k] = names != null && label < names.length ? names[label] : Integer.toString(label);
            }
            Pictures.rolloutGrid(raw, maps, captions, outDir.resolve("rollout.png"));
            // Whether the maps sit on the object: their mass on the patches the garment covers against those patches' area.
            // The mass share is pulled toward the area by the residual path's uniform floor; the rank statistic asks
            // only whether the map's higher cells are the object's.
            double mass = 0, area = 0, rank = 0;
            int ranked = 0, above = 0;
            for (int k = 0; k < n; k++) {
                boolean[][] object = objectPatches(raw[k], c.gridH(), c.gridW(), c.patch());
                mass += AttentionRollout.massOn(maps[k], object) / n;
                double cells = 0;
                for (boolean[] row : object) for (boolean b : row) if (b) cells++;
                area += cells / c.patches() / n;
                double auc = AttentionRollout.rankOn(maps[k], object);
                if (!Double.isNaN(auc)) {
                    rank += auc;
                    ranked++;
                    if (auc > 0.5) above++;
                }
            }
            out.printf("rollout: %.0f%% of each map's mass on the object's patches, which are %.0f%% of the patches (mean of %d images)%n",
                    100 * mass, 100 * area, n);
            if (ranked > 0) {
                out.printf("rollout: an object patch outranks a background patch in the map with probability %.2f (0.5: no preference; mean of %d images, above 0.5 in %d)%n",
                        rank / ranked, ranked, above);
            }

            double[][] distance = new double[layers][c.heads()];
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < c.heads(); h++) {
                    for (int k = 0; k < n; k++) distance[l][h] += AttentionDistance.meanDistance(inside.attention()[l][k][h], extra, c.gridH(), c.gridW(), c.patch()) / n;
                }
            }
            double uniform = uniformDistance(c.gridH(), c.gridW(), c.patch());
            Pictures.distanceScatter(distance, Math.max(c.imageHeight(), c.imageWidth()), uniform, outDir.resolve("attention_distance.png"));
            StringBuilder byLayer = new StringBuilder();
            double[] means = new double[layers];
            for (int l = 0; l < layers; l++) {
                means[l] = java.util.Arrays.stream(distance[l]).average().orElse(0);
                byLayer.append(String.format(" %.1f", means[l]));
            }
            // Read along a line fitted to all the layers: the first and last alone swing with a head or two.
            double rise = AttentionDistance.trend(means), start = java.util.Arrays.stream(means).average().orElse(0) - rise / 2;
            double share = start > 0 ? rise / start : 0;
            out.printf("mean attention distance by layer, in pixels:%s (uniform attention over the patches: %.1f); a line fitted through them %s%n",
                    byLayer, uniform,
                    share > 0.05 ? String.format("rises by %.1f px (%.0f%%) from the first layer to the last: it grows with depth", rise, 100 * share)
                            : share < -0.05 ? String.format("falls by %.1f px (%.0f%%) from the first layer to the last", -rise, -100 * share)
                            : String.format("moves by %+.1f px (%+.0f%%) from the first layer to the last: flat", rise, 100 * share));
            out.println("mean attention distance in pixels (rows: layers, columns: heads)");
            for (int l = 0; l < layers; l++) {
                StringBuilder sb = new StringBuilder(String.format("  layer %2d:", l + 1));
                for (double d : distance[l]) sb.append(String.format(" %6.2f", d));
                out.println(sb);
            }

            float[] pe = vit.positionEmbedding();
            if (pe != null) {
                int d = c.dim(), patches = c.patches();
                double[][] sims = new double[patches][patches];
                for (int p = 0; p < patches; p++) {
                    for (int q = 0; q < patches; q++) sims[p][q] = cosine(pe, (extra + p) * d, (extra + q) * d, d);
                }
                Pictures.positionSimilarity(sims, c.gridH(), c.gridW(), outDir.resolve("posemb_similarity.png"));
            }

            // CKA between layers, on more images: of this model with itself, or with --compare.
            int m = Math.min(ckaImages, test.count());
            float[][][] pooledA = pooled(vit, ws, test, m, norm);
            String cmp = a.str("compare", null);
            float[][][] pooledB = pooledA;
            String title = "Linear CKA between the layers of " + dir.getFileName();
            if (cmp != null) {
                Path other = CheckpointArgs.directory(cmp);
                try (VisionTransformer vit2 = Checkpoint.loadModel(other)) {
                    if (vit2.config().imageHeight() != c.imageHeight() || vit2.config().channels() != c.channels()) {
                        throw new UsageException("--compare: " + other + " takes " + vit2.config().channels() + "x" + vit2.config().imageHeight()
                                + " images, " + dir + " takes " + c.channels() + "x" + c.imageHeight());
                    }
                    pooledB = pooled(vit2, ws, test, m, CheckpointArgs.normalisation(other));
                }
                title = "Linear CKA: " + dir.getFileName() + " (rows) vs " + other.getFileName() + " (columns)";
            }
            double[][] cka = new double[pooledA.length][pooledB.length];
            for (int i = 0; i < pooledA.length; i++) for (int j = 0; j < pooledB.length; j++) cka[i][j] = LinearCka.cka(pooledA[i], pooledB[j]);
            Pictures.heatmap(cka, title, "layer", "layer", outDir.resolve("cka.png"));
            out.printf("wrote rollout.png, attention_distance.png%s, cka.png to %s%n", pe != null ? ", posemb_similarity.png" : "", outDir);
        }
        return 0;
    }

    private static float[][][] pooled(VisionTransformer vit, Workspace ws, Dataset test, int m, float[] norm) {
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            return vit.inspect(ws, images(arena, test, m, norm)).pooled();
        }
    }

    /** Patches whose mean grey value exceeds 0.1: Fashion-MNIST's garments on their black background. */
    static boolean[][] objectPatches(float[][] grey, int gh, int gw, int patch) {
        boolean[][] m = new boolean[gh][gw];
        for (int py = 0; py < gh; py++) {
            for (int px = 0; px < gw; px++) {
                double s = 0;
                for (int y = 0; y < patch; y++) for (int x = 0; x < patch; x++) s += grey[py * patch + y][px * patch + x];
                m[py][px] = s / (patch * patch) > 0.1;
            }
        }
        return m;
    }

    /** The mean attention distance of uniform attention over a gh x gw grid of patches, in pixels. */
    static double uniformDistance(int gh, int gw, int patch) {
        int n = gh * gw;
        float[][] uniform = new float[n][n];
        for (float[] row : uniform) java.util.Arrays.fill(row, 1f / n);
        return AttentionDistance.meanDistance(uniform, 0, gh, gw, patch);
    }

    /** The first n images of the split, normalised, as a (n, C, H, W) tensor. */
    private static Tensor images(java.lang.foreign.Arena arena, Dataset d, int n, float[] norm) {
        int px = d.imageBytes();
        float[] v = new float[n * px];
        for (int i = 0; i < n * px; i++) v[i] = ((d.pixels()[i] & 0xff) / 255f - norm[0]) / norm[1];
        return Tensor.of(arena, v, n, d.channels(), d.height(), d.width());
    }

    /** Image k as grey values in [0, 1] (the mean of its channels). */
    private static float[][] greyImage(Dataset d, int k) {
        int h = d.height(), w = d.width(), c = d.channels(), base = k * d.imageBytes();
        float[][] g = new float[h][w];
        for (int ch = 0; ch < c; ch++) {
            for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) g[y][x] += (d.pixels()[base + (ch * h + y) * w + x] & 0xff) / 255f / c;
        }
        return g;
    }

    private static double cosine(float[] v, int a, int b, int d) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < d; i++) {
            ab += (double) v[a + i] * v[b + i];
            aa += (double) v[a + i] * v[a + i];
            bb += (double) v[b + i] * v[b + i];
        }
        return aa == 0 || bb == 0 ? 0 : ab / Math.sqrt(aa * bb);
    }
}
