package dev.tessera.vit;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.analysis.AttentionDistance;
import dev.tessera.vit.analysis.AttentionRollout;
import dev.tessera.vit.analysis.LinearCka;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class AnalysisTest {
    private static float[][] identity(int n) {
        float[][] m = new float[n][n];
        for (int i = 0; i < n; i++) m[i][i] = 1f;
        return m;
    }

    private static float[][] random(int n, int p, long seed) {
        Random r = new Random(seed);
        float[][] m = new float[n][p];
        for (float[] row : m) for (int j = 0; j < p; j++) row[j] = (float) r.nextGaussian();
        return m;
    }

    @Property(tries = 10)
    void rolloutOfIdentityAttentionIsTheIdentity(@ForAll @IntRange(min = 1, max = 9) int n, @ForAll @IntRange(min = 1, max = 4) int layers) {
        float[][][][] att = new float[layers][2][][];
        for (int l = 0; l < layers; l++) for (int h = 0; h < 2; h++) att[l][h] = identity(n);
        double[][] r = AttentionRollout.rollout(att);
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) assertEquals(i == j ? 1 : 0, r[i][j], 1e-12);
    }

    @Test
    void rolloutOfUniformAttentionMixesWithTheResidual() {
        int n = 4;
        float[][] uniform = new float[n][n];
        for (float[] row : uniform) java.util.Arrays.fill(row, 0.25f);
        double[][] r = AttentionRollout.rollout(new float[][][][] {{uniform}});
        // (0.25 + identity) / 2: 0.625 on the diagonal, 0.125 elsewhere; rows sum to 1.
        assertEquals(0.625, r[1][1], 1e-9);
        assertEquals(0.125, r[1][2], 1e-9);
    }

    private static boolean[][] randomMarks(java.util.Random r, int h, int w) {
        boolean[][] marked = new boolean[h][w];
        for (boolean[] row : marked) for (int x = 0; x < w; x++) row[x] = r.nextBoolean();
        return marked;
    }

    private static int count(boolean[][] marked) {
        int n = 0;
        for (boolean[] row : marked) for (boolean b : row) if (b) n++;
        return n;
    }

    /** A map over the marks' grid, each cell's value drawn from whether it is marked (in row order). */
    private static double[][] map(boolean[][] marked, java.util.function.Function<Boolean, Double> value) {
        double[][] m = new double[marked.length][];
        for (int y = 0; y < marked.length; y++) {
            m[y] = new double[marked[y].length];
            for (int x = 0; x < m[y].length; x++) m[y][x] = value.apply(marked[y][x]);
        }
        return m;
    }

    @Property(tries = 20)
    void aUniformMapPutsTheMarkedAreasShareOnItAndAFocusedMapAllOfIt(@ForAll @IntRange(min = 1, max = 7) int h, @ForAll @IntRange(min = 1, max = 7) int w,
                                                                       @ForAll long seed) {
        java.util.Random r = new java.util.Random(seed);
        boolean[][] marked = randomMarks(r, h, w);
        int count = count(marked);
        double[][] uniform = map(marked, m -> 0.5), focused = map(marked, m -> m ? r.nextDouble() + 0.01 : 0);
        assertEquals((double) count / (h * w), AttentionRollout.massOn(uniform, marked), 1e-12);
        if (count > 0) assertEquals(1.0, AttentionRollout.massOn(focused, marked), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> AttentionRollout.massOn(new double[h + 1][w], marked));
    }

    @Property(tries = 30)
    void theRankStatisticIsOneOnTheMarksHalfWhenUniformAndZeroOffThem(@ForAll @IntRange(min = 1, max = 7) int h, @ForAll @IntRange(min = 1, max = 7) int w,
                                                                     @ForAll long seed) {
        java.util.Random r = new java.util.Random(seed);
        boolean[][] marked = randomMarks(r, h, w);
        int count = count(marked);
        double[][] uniform = map(marked, m -> 0.5);
        double[][] on = map(marked, m -> (m ? 2 : 0) + r.nextDouble()), off = map(marked, m -> (m ? 0 : 2) + r.nextDouble());
        double[][] floored = map(marked, m -> 10 + (m ? 0.02 : 0.01));   // a wide floor and small peaks on the marks
        if (count == 0 || count == h * w) {
            assertTrue(Double.isNaN(AttentionRollout.rankOn(uniform, marked)));
            return;
        }
        assertEquals(0.5, AttentionRollout.rankOn(uniform, marked), 1e-12);
        assertEquals(1.0, AttentionRollout.rankOn(on, marked), 1e-12);
        assertEquals(0.0, AttentionRollout.rankOn(off, marked), 1e-12);
        // The floor hides the peaks from the mass share, not from the ranks.
        assertEquals(1.0, AttentionRollout.rankOn(floored, marked), 1e-12);
        assertTrue(AttentionRollout.massOn(floored, marked) < (double) count / (h * w) + 0.01);
        assertThrows(IllegalArgumentException.class, () -> AttentionRollout.rankOn(new double[h][w + 1], marked));
    }

    @Test
    void theRankStatisticCountsTiesAsHalf() {
        boolean[][] marked = {{true, true, false, false}};
        // Marked 3 and 1 against unmarked 1 and 0: 3 beats both, 1 ties 1 and beats 0 -> (2 + 1.5) / 4.
        assertEquals(0.875, AttentionRollout.rankOn(new double[][] {{3, 1, 1, 0}}, marked), 1e-12);
    }

    @Test
    void attentionDistanceOfSelfAttentionIsZeroAndOfANeighbourIsOnePatch() {
        int gh = 3, gw = 3, p = 4;
        float[][] self = identity(1 + gh * gw);
        assertEquals(0, AttentionDistance.meanDistance(self, 1, gh, gw, p), 1e-12);
        float[][] right = new float[1 + gh * gw][1 + gh * gw];
        for (int q = 0; q < gh * gw; q++) {
            int y = q / gw, x = q % gw;
            int k = y * gw + (x + 1 < gw ? x + 1 : x - 1); // a horizontal neighbour, always one patch away
            right[1 + q][1 + k] = 1f;
        }
        assertEquals(p, AttentionDistance.meanDistance(right, 1, gh, gw, p), 1e-9);
        assertThrows(IllegalArgumentException.class, () -> AttentionDistance.meanDistance(self, 0, gh, gw, p));
        // The fitted rise: exact on a line, blind to a zigzag around a flat level, 0 for one layer.
        assertEquals(5, AttentionDistance.trend(new double[] {10, 11, 12, 13, 14, 15}), 1e-12);
        assertEquals(0, AttentionDistance.trend(new double[] {14, 15, 13, 13, 15, 14}), 1e-12);
        assertEquals(-2, AttentionDistance.trend(new double[] {3, 1}), 1e-12);
        assertEquals(0, AttentionDistance.trend(new double[] {7}), 0);
    }

    @Test
    void ckaOfARepresentationWithItselfIsOneAndInvariantToRotationAndScale() {
        float[][] x = random(50, 6, 1);
        assertEquals(1.0, LinearCka.cka(x, x), 1e-9);
        // Rotate the two first columns by 30 degrees and scale everything by 3.
        double c = Math.cos(Math.PI / 6), s = Math.sin(Math.PI / 6);
        float[][] y = new float[50][6];
        for (int i = 0; i < 50; i++) {
            for (int j = 0; j < 6; j++) y[i][j] = 3 * x[i][j];
            y[i][0] = (float) (3 * (c * x[i][0] - s * x[i][1]));
            y[i][1] = (float) (3 * (s * x[i][0] + c * x[i][1]));
        }
        assertEquals(1.0, LinearCka.cka(x, y), 1e-5);
        double unrelated = LinearCka.cka(x, random(50, 6, 2));
        assertTrue(unrelated < 0.5, "independent noise gave CKA " + unrelated);
    }
}
