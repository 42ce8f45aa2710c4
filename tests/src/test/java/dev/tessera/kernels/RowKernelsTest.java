package dev.tessera.kernels;

import static dev.tessera.Fixtures.*;

import dev.tessera.engine.kernels.Activation;
import dev.tessera.engine.kernels.MathRef;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import net.jqwik.api.*;

/** Softmax, LayerNorm, activations, elementwise, losses and optimizer kernels: fast path against the reference. */
@Tag("kernels")
class RowKernelsTest {

    @Provide
    Arbitrary<Integer> rows() { return Arbitraries.of(1, 2, 3, 17); }

    @Provide
    Arbitrary<Integer> cols() { return Arbitraries.of(1, 2, 7, LANES - 1, LANES, LANES + 1, 3 * LANES + 5, 197, 768); }

    @Property
    void softmaxForwardBackward(@ForAll("rows") int r, @ForAll("cols") int c) {
        try (Arena arena = Arena.ofShared()) {
            long n = (long) r * c;
            MemorySegment x = random(arena, n, 1), y0 = random(arena, n, 0), y1 = random(arena, n, 0);
            REF.softmax(x, 0, y0, 0, r, c);
            FAST.softmax(x, 0, y1, 0, r, c);
            assertClose("softmax", y0, y1, n, 1e-6, 1e-5);
            double rowSum = 0;
            for (int j = 0; j < c; j++) rowSum += y1.getAtIndex(ValueLayout.JAVA_FLOAT, j);
            if (Math.abs(rowSum - 1) > 1e-5) throw new AssertionError("softmax row sums to " + rowSum);
            MemorySegment dy = random(arena, n, 2), dx0 = random(arena, n, 3), dx1 = copy(arena, dx0);
            REF.softmaxBackward(y0, 0, dy, 0, dx0, 0, r, c);
            FAST.softmaxBackward(y0, 0, dy, 0, dx1, 0, r, c);
            assertClose("softmax backward", dx0, dx1, n, 1e-5, 1e-4);
        }
    }

    /** Huge logits, then a fully masked row, then an ordinary one: each row's max is its own (the next one's is taken ahead). */
    @Example
    void softmaxIsStableForHugeLogitsAndFullyMaskedRows() {
        try (Arena arena = Arena.ofShared()) {
            int c = LANES + 3;
            MemorySegment x = random(arena, 3L * c, 1), y = random(arena, 3L * c, 2);
            for (int j = 0; j < c; j++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT, j, 1e30f + j * 1e24f);
                x.setAtIndex(ValueLayout.JAVA_FLOAT, c + j, Float.NEGATIVE_INFINITY);
            }
            FAST.softmax(x, 0, y, 0, 3, c);
            float[] sums = new float[3];
            for (int j = 0; j < 3 * c; j++) {
                float v = y.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                if (!Float.isFinite(v)) throw new AssertionError("softmax produced " + v + " at " + j);
                sums[j / c] += v;
            }
            if (Math.abs(sums[0] - 1) > 1e-5 || sums[1] != 0 || Math.abs(sums[2] - 1) > 1e-5) {
                throw new AssertionError("row sums " + java.util.Arrays.toString(sums) + ", expected 1, 0 (masked), 1");
            }
        }
    }

    /**
     * The exponential under the softmax over its whole range: a row of 0 (the max) and logits from 0 down to -104 in
     * steps of 1/64, then -inf. e^0 is exactly 1, so y_j / y_0 is e^(x_j) up to the two roundings of the scaling: every
     * ratio in float's normal range within 3e-7 relative of e^(x_j) in double (the polynomial's fit is 3.1e-9, the rest
     * float rounding), below it at most the smallest normal (subnormals may flush to 0), and -inf exactly +0. Checked:
     * the same polynomial with its highest coefficient zeroed fails here (3.3e-7 at logit -0.23).
     */
    @Property(tries = 6)
    void softmaxExponentialIsAccurateOverTheWholeRange(@ForAll @net.jqwik.api.constraints.IntRange(min = 0, max = 5) int offset) {
        int c = 104 * 64 + 2 + offset;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate(4L * c, 64), y = arena.allocate(4L * c, 64);
            for (int j = 0; j < c; j++) x.setAtIndex(ValueLayout.JAVA_FLOAT, j, -j / 64f);
            x.setAtIndex(ValueLayout.JAVA_FLOAT, c - 1, Float.NEGATIVE_INFINITY);
            FAST.softmax(x, 0, y, 0, 1, c);
            double y0 = y.getAtIndex(ValueLayout.JAVA_FLOAT, 0), worst = 0;
            for (int j = 0; j < c; j++) {
                double xj = x.getAtIndex(ValueLayout.JAVA_FLOAT, j), ref = Math.exp(xj);
                float v = y.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                boolean ok;
                if (ref * y0 >= Float.MIN_NORMAL) {
                    double rel = Math.abs(v / y0 - ref) / ref;
                    worst = Math.max(worst, rel);
                    ok = rel <= 3e-7;
                } else {
                    ok = xj == Double.NEGATIVE_INFINITY ? v == 0f && 1 / v > 0 : v >= 0f && v <= Float.MIN_NORMAL;
                }
                if (!ok) throw new AssertionError("softmax at logit " + xj + ": " + v / y0 + " of y_0, expected e^x = " + ref + " (offset " + offset + ")");
            }
            if (offset == 0) System.out.println("softmax exponential: worst relative error " + worst);
        }
    }

    /**
     * Two logits far above the rest, anywhere in the middle one of three rows: only a correct row max keeps them apart
     * (0.731 and 0.269). A max that missed them would have both exponentials clamp at e^88 and split the mass evenly.
     * The middle row's max is taken while the first row is exponentiated, so this checks the look-ahead too.
     */
    @Property
    void softmaxFindsTheMaxAnywhereInTheRow(@ForAll("cols") int c, @ForAll @net.jqwik.api.constraints.IntRange(min = 0, max = 10_000) int pi,
                                          @ForAll @net.jqwik.api.constraints.IntRange(min = 0, max = 10_000) int qi, @ForAll boolean nan) {
        Assume.that(c >= 3);
        int p = pi % c, q = (p + 1 + qi % (c - 1)) % c;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = random(arena, 3L * c, 1), y = random(arena, 3L * c, 2);
            x.setAtIndex(ValueLayout.JAVA_FLOAT, c + p, 200f);
            x.setAtIndex(ValueLayout.JAVA_FLOAT, c + q, 199f);
            FAST.softmax(x, 0, y, 0, 3, c);
            float yp = y.getAtIndex(ValueLayout.JAVA_FLOAT, c + p), yq = y.getAtIndex(ValueLayout.JAVA_FLOAT, c + q);
            if (Math.abs(yp - 0.7310586f) > 1e-5f || Math.abs(yq - 0.2689414f) > 1e-5f) {
                throw new AssertionError("cols " + c + ": softmax gave " + yp + " at " + p + " and " + yq + " at " + q);
            }
            if (nan) {
                // A NaN anywhere makes the whole row NaN, as in the reference, and only that row.
                x.setAtIndex(ValueLayout.JAVA_FLOAT, c + ((p + q) % c == p ? q : (p + q) % c), Float.NaN);
                FAST.softmax(x, 0, y, 0, 3, c);
                for (int j = 0; j < 3 * c; j++) {
                    float v = y.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                    if (Float.isNaN(v) != (j / c == 1)) throw new AssertionError("cols " + c + ": a NaN logit in row 1 gave " + v + " at " + j);
                }
            }
        }
    }

    /**
     * Rows that a one-pass variance gets wrong unless it shifts well or falls back: an offset of 100 with a spread of
     * 0.1-0.2 (unshifted, E[x^2] - E[x]^2 keeps one digit of the variance; any float mean is off by up to half an ulp of
     * 100, 4e-5 of the spread), a first vector far from the rest, a constant row, one huge outlier at the end. Against
     * statistics in double.
     */
    @Property
    void layerNormOnHardRows(@ForAll("cols") int c) {
        try (Arena arena = Arena.ofShared()) {
            int r = 5;
            long n = (long) r * c;
            MemorySegment x = random(arena, n, 21);
            java.util.Random rnd = new java.util.Random(c);
            for (int j = 0; j < c; j++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT, j, 100f + (j % 2 == 0 ? 0.1f : -0.1f) * (1 + rnd.nextFloat()));
                x.setAtIndex(ValueLayout.JAVA_FLOAT, c + j, j < LANES ? 1e4f : (float) rnd.nextGaussian());
                x.setAtIndex(ValueLayout.JAVA_FLOAT, 2L * c + j, 3.25f);
                if (j == c - 1) x.setAtIndex(ValueLayout.JAVA_FLOAT, 3L * c + j, 5e4f);
            }
            MemorySegment y = random(arena, n, 0), m = random(arena, r, 0), s = random(arena, r, 0);
            FAST.layerNorm(x, 0, null, 0, null, 0, y, 0, m, 0, s, 0, r, c, 1e-6f);
            float[] yRef = new float[(int) n], mRef = new float[r], sRef = new float[r];
            for (int i = 0; i < r; i++) {
                double mu = 0, var = 0;
                for (int j = 0; j < c; j++) mu += x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c + j);
                mu /= c;
                for (int j = 0; j < c; j++) var += Math.pow(x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c + j) - mu, 2);
                double rs = 1 / Math.sqrt(var / c + 1e-6f);
                mRef[i] = (float) mu;
                sRef[i] = (float) rs;
                for (int j = 0; j < c; j++) yRef[i * c + j] = (float) ((x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c + j) - mu) * rs);
            }
            assertClose("layerNorm on hard rows, cols " + c, yRef, floats(y, 0, n), 2e-4, 1e-4);
            assertClose("mean on hard rows", mRef, floats(m, 0, r), 1e-5, 1e-5);
            assertClose("rstd on hard rows", sRef, floats(s, 0, r), 1e-4, 1e-4);
        }
    }

    /** A row's result is the same bits whether it is first in a call (a thread's chunk) or follows other rows. */
    @Property
    void layerNormRowsDoNotDependOnTheirNeighbours(@ForAll("rows") int r, @ForAll("cols") int c) {
        try (Arena arena = Arena.ofShared()) {
            long n = (long) r * c;
            MemorySegment x = random(arena, n, 31), y = random(arena, n, 0), m = random(arena, r, 0), s = random(arena, r, 0);
            MemorySegment y1 = random(arena, c, 0), m1 = random(arena, 1, 0), s1 = random(arena, 1, 0);
            FAST.layerNorm(x, 0, null, 0, null, 0, y, 0, m, 0, s, 0, r, c, 1e-6f);
            for (int i = 0; i < r; i++) {
                FAST.layerNorm(x, (long) i * c, null, 0, null, 0, y1, 0, m1, 0, s1, 0, 1, c, 1e-6f);
                if (!java.util.Arrays.equals(floats(y, (long) i * c, c), floats(y1, 0, c))
                        || Float.floatToIntBits(m.getAtIndex(ValueLayout.JAVA_FLOAT, i)) != Float.floatToIntBits(m1.getAtIndex(ValueLayout.JAVA_FLOAT, 0))
                        || Float.floatToIntBits(s.getAtIndex(ValueLayout.JAVA_FLOAT, i)) != Float.floatToIntBits(s1.getAtIndex(ValueLayout.JAVA_FLOAT, 0))) {
                    throw new AssertionError("row " + i + " of " + r + " (cols " + c + ") differs from the same row on its own");
                }
            }
        }
    }

    /**
     * Large enough (rows x cols >= 65536) that the bias gradient and LayerNorm's dgamma/dbeta split their columns over
     * the pool: each thread's range, vector-aligned or not, must still sum every row.
     */
    @Property(tries = 24)
    void columnReductionsSplitOverThreads(@ForAll("tallRows") int r, @ForAll("splitCols") int c, @ForAll("threads") int threads) {
        dev.tessera.engine.kernels.Parallel.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            long n = (long) r * c;
            MemorySegment a = random(arena, n, 1);
            MemorySegment s0 = random(arena, c, 4), s1 = copy(arena, s0);
            REF.sumRows(a, 0, s0, 0, r, c); FAST.sumRows(a, 0, s1, 0, r, c);
            // Float sums over thousands of rows, in another order: rounding grows like sqrt(rows); a missed or doubled
            // column is off by a whole column sum, about sqrt(rows).
            double atol = 5e-5 * Math.sqrt(r);
            assertClose("sumRows", s0, s1, c, atol, 1e-5);
            MemorySegment x = random(arena, n, 2), g = random(arena, c, 3), y = random(arena, n, 0);
            MemorySegment m = random(arena, r, 0), rs = random(arena, r, 0);
            REF.layerNorm(x, 0, g, 0, null, 0, y, 0, m, 0, rs, 0, r, c, 1e-6f);
            MemorySegment dy = random(arena, n, 5), dx0 = random(arena, n, 6), dx1 = copy(arena, dx0);
            MemorySegment dg0 = random(arena, c, 7), dg1 = copy(arena, dg0), db0 = random(arena, c, 8), db1 = copy(arena, db0);
            REF.layerNormBackward(x, 0, g, 0, m, 0, rs, 0, dy, 0, dx0, 0, dg0, 0, db0, 0, r, c);
            FAST.layerNormBackward(x, 0, g, 0, m, 0, rs, 0, dy, 0, dx1, 0, dg1, 0, db1, 0, r, c);
            assertClose("layerNorm dx", dx0, dx1, n, 2e-4, 1e-3);
            assertClose("layerNorm dgamma", dg0, dg1, c, atol, 1e-4);
            assertClose("layerNorm dbeta", db0, db1, c, atol, 1e-4);
        } finally {
            dev.tessera.engine.kernels.Parallel.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }

    @Provide
    Arbitrary<Integer> tallRows() { return Arbitraries.of(2203, 4099); }

    @Provide
    Arbitrary<Integer> splitCols() { return Arbitraries.of(LANES * 2 + 1, LANES * 4 + 1, 197, 768); }

    @Provide
    Arbitrary<Integer> threads() { return Arbitraries.of(1, 2, 3); }

    @Property
    void layerNormForwardBackward(@ForAll("rows") int r, @ForAll("cols") int c, @ForAll boolean affine) {
        try (Arena arena = Arena.ofShared()) {
            long n = (long) r * c;
            MemorySegment x = random(arena, n, 1), g = affine ? random(arena, c, 2) : null, b = affine ? random(arena, c, 3) : null;
            MemorySegment y0 = random(arena, n, 0), y1 = random(arena, n, 0);
            MemorySegment m0 = random(arena, r, 0), m1 = random(arena, r, 0), s0 = random(arena, r, 0), s1 = random(arena, r, 0);
            REF.layerNorm(x, 0, g, 0, b, 0, y0, 0, m0, 0, s0, 0, r, c, 1e-6f);
            FAST.layerNorm(x, 0, g, 0, b, 0, y1, 0, m1, 0, s1, 0, r, c, 1e-6f);
            assertClose("layerNorm", y0, y1, n, 1e-4, 1e-4);
            assertClose("mean", m0, m1, r, 1e-5, 1e-5);
            assertClose("rstd", s0, s1, r, 1e-4, 1e-4);
            MemorySegment dy = random(arena, n, 4), dx0 = random(arena, n, 5), dx1 = copy(arena, dx0);
            MemorySegment dg0 = affine ? random(arena, c, 6) : null, dg1 = affine ? copy(arena, dg0) : null;
            MemorySegment db0 = affine ? random(arena, c, 7) : null, db1 = affine ? copy(arena, db0) : null;
            REF.layerNormBackward(x, 0, g, 0, m0, 0, s0, 0, dy, 0, dx0, 0, dg0, 0, db0, 0, r, c);
            FAST.layerNormBackward(x, 0, g, 0, m0, 0, s0, 0, dy, 0, dx1, 0, dg1, 0, db1, 0, r, c);
            assertClose("layerNorm dx", dx0, dx1, n, 2e-4, 1e-3);
            if (affine) {
                assertClose("layerNorm dgamma", dg0, dg1, c, 1e-4, 1e-4);
                assertClose("layerNorm dbeta", db0, db1, c, 1e-4, 1e-4);
            }
        }
    }

    @Property
    void activationsAgainstDoubleReference(@ForAll("cols") int n, @ForAll Activation act) {
        try (Arena arena = Arena.ofShared()) {
            // activationBackward adds to what dx holds; activationGrad overwrites, also in place of x.
            MemorySegment x = random(arena, n, 11), y = random(arena, n, 0), dy = random(arena, n, 12), dx = random(arena, n, 13);
            MemorySegment dx0 = copy(arena, dx), written = random(arena, n, 14), inPlace = copy(arena, x);
            FAST.activation(act, x, 0, y, 0, n);
            FAST.activationBackward(act, x, 0, dy, 0, dx, 0, n);
            FAST.activationGrad(act, x, 0, dy, 0, written, 0, n);
            FAST.activationGrad(act, inPlace, 0, dy, 0, inPlace, 0, n);
            float[] ref = new float[n], dref = new float[n], accRef = new float[n];
            for (int i = 0; i < n; i++) {
                double xi = x.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                ref[i] = (float) MathRef.act(act, xi);
                dref[i] = (float) (MathRef.actGrad(act, xi) * dy.getAtIndex(ValueLayout.JAVA_FLOAT, i));
                accRef[i] = dx0.getAtIndex(ValueLayout.JAVA_FLOAT, i) + dref[i];
            }
            assertClose(act + " forward", ref, floats(y, 0, n), 1e-6, 1e-5);
            assertClose(act + " backward, added", accRef, floats(dx, 0, n), 1e-6, 1e-5);
            assertClose(act + " backward, written", dref, floats(written, 0, n), 1e-6, 1e-5);
            assertClose(act + " backward, in place", dref, floats(inPlace, 0, n), 1e-6, 1e-5);
        }
    }

    /** Every x from -20 to 20 in steps of 1/1024, plus tiny and huge ones: where the fits are clamped and 1 + erf cancels. */
    @Example
    void activationsOverADenseGrid() {
        int n = 40 * 1024 + 1 + 2 * 60;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate(4L * n, 64), y = arena.allocate(4L * n, 64), ones = arena.allocate(4L * n, 64);
            for (int j = 0; j < n; j++) ones.setAtIndex(ValueLayout.JAVA_FLOAT, j, 1f);
            int i = 0;
            for (; i <= 40 * 1024; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, -20f + i / 1024f);
            for (int e = -30; e < 30; e++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT, i++, (float) Math.pow(10, e));
                x.setAtIndex(ValueLayout.JAVA_FLOAT, i++, (float) -Math.pow(10, e));
            }
            for (Activation act : Activation.values()) {
                FAST.activation(act, x, 0, y, 0, n);
                float[] ref = new float[n];
                for (int j = 0; j < n; j++) ref[j] = (float) MathRef.act(act, x.getAtIndex(ValueLayout.JAVA_FLOAT, j));
                assertClose(act + " forward on the grid", ref, floats(y, 0, n), 1e-6, 1e-5);
                FAST.activationGrad(act, x, 0, ones, 0, y, 0, n);
                for (int j = 0; j < n; j++) ref[j] = (float) MathRef.actGrad(act, x.getAtIndex(ValueLayout.JAVA_FLOAT, j));
                assertClose(act + " derivative on the grid", ref, floats(y, 0, n), 1e-6, 1e-5);
            }
        }
    }

    @Example
    void erfReferenceMatchesKnownValues() {
        double[][] known = {{0, 0}, {0.5, 0.5204998778130465}, {1, 0.8427007929497149}, {2, 0.9953222650189527}, {3.5, 0.9999992569016276}, {-1, -0.8427007929497149}};
        for (double[] kv : known) {
            if (Math.abs(MathRef.erf(kv[0]) - kv[1]) > 1e-13) throw new AssertionError("erf(" + kv[0] + ") = " + MathRef.erf(kv[0]));
        }
    }

    @Property
    void elementwise(@ForAll("rows") int r, @ForAll("cols") int c) {
        try (Arena arena = Arena.ofShared()) {
            long n = (long) r * c;
            MemorySegment a = random(arena, n, 1), b = random(arena, n, 2), row = random(arena, c, 3);
            MemorySegment o0 = random(arena, n, 0), o1 = random(arena, n, 0);
            REF.add(a, 0, b, 0, o0, 0, n); FAST.add(a, 0, b, 0, o1, 0, n);
            assertClose("add", o0, o1, n, 0, 0);
            REF.mul(a, 0, b, 0, o0, 0, n); FAST.mul(a, 0, b, 0, o1, 0, n);
            assertClose("mul", o0, o1, n, 0, 0);
            REF.addRow(a, 0, row, 0, o0, 0, r, c); FAST.addRow(a, 0, row, 0, o1, 0, r, c);
            assertClose("addRow", o0, o1, n, 0, 0);
            REF.axpy(0.3f, a, 0, o0, 0, n); FAST.axpy(0.3f, a, 0, o1, 0, n);
            assertClose("axpy", o0, o1, n, 1e-6, 1e-6);
            REF.mulAcc(a, 0, b, 0, o0, 0, n); FAST.mulAcc(a, 0, b, 0, o1, 0, n);
            assertClose("mulAcc", o0, o1, n, 1e-6, 1e-6);
            REF.scale(-2f, a, 0, o0, 0, n); FAST.scale(-2f, a, 0, o1, 0, n);
            assertClose("scale", o0, o1, n, 0, 0);
            MemorySegment s0 = random(arena, c, 4), s1 = copy(arena, s0);
            REF.sumRows(a, 0, s0, 0, r, c); FAST.sumRows(a, 0, s1, 0, r, c);
            assertClose("sumRows", s0, s1, c, 1e-5, 1e-5);
            MemorySegment t0 = random(arena, r, 4), t1 = random(arena, r, 5);
            REF.sumCols(a, 0, t0, 0, r, c); FAST.sumCols(a, 0, t1, 0, r, c);
            assertClose("sumCols", t0, t1, r, 1e-4, 1e-5);
            REF.copy(a, 0, o0, 0, n); FAST.copy(a, 0, o1, 0, n);
            assertClose("copy", o0, o1, n, 0, 0);
            double ss0 = REF.sumSquares(a, 0, n), ss1 = FAST.sumSquares(a, 0, n);
            if (Math.abs(ss0 - ss1) > 1e-5 * ss0 + 1e-6) throw new AssertionError("sumSquares " + ss0 + " vs " + ss1);
        }
    }

    @Property
    void crossEntropyHardSoftSmoothed(@ForAll("rows") int r, @ForAll("classes") int c, @ForAll("smoothing") float eps, @ForAll boolean soft) {
        try (Arena arena = Arena.ofShared()) {
            long n = (long) r * c;
            MemorySegment logits = random(arena, n, 1), p0 = random(arena, n, 0), p1 = random(arena, n, 0);
            int[] labels = new int[r];
            for (int i = 0; i < r; i++) labels[i] = (i * 7 + 3) % c;
            MemorySegment tgt = null;
            if (soft) {
                tgt = random(arena, n, 5);
                FAST.softmax(tgt, 0, tgt, 0, r, c);
            }
            double l0 = REF.crossEntropy(logits, 0, labels, tgt, 0, eps, p0, 0, null, 0, r, c);
            double l1 = FAST.crossEntropy(logits, 0, labels, tgt, 0, eps, p1, 0, null, 0, r, c);
            if (Math.abs(l0 - l1) > 1e-5 * Math.abs(l0) + 1e-6) throw new AssertionError("loss " + l0 + " vs " + l1);
            // Independent check of the hard-label loss: -log softmax(logits)[label].
            if (!soft && eps == 0f) {
                double want = 0;
                for (int i = 0; i < r; i++) {
                    double max = Double.NEGATIVE_INFINITY, s = 0;
                    for (int j = 0; j < c; j++) max = Math.max(max, logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c + j));
                    for (int j = 0; j < c; j++) s += Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c + j) - max);
                    want += -(logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * c + labels[i]) - max - Math.log(s));
                }
                want /= r;
                if (Math.abs(want - l1) > 1e-5 * want) throw new AssertionError("cross-entropy " + l1 + ", expected " + want);
            }
        }
    }

    @Provide
    Arbitrary<Integer> classes() { return Arbitraries.of(1, 2, 10, LANES + 1, 1000); }

    @Provide
    Arbitrary<Float> smoothing() { return Arbitraries.of(0f, 0.1f); }

    @Property(tries = 20)
    void dropoutIsSeededAndUnbiased(@ForAll("cols") int n, @ForAll("probabilities") float p) {
        try (Arena arena = Arena.ofShared()) {
            int len = Math.max(n, 4096);
            MemorySegment x = random(arena, len, 1), m0 = random(arena, len, 0), m1 = random(arena, len, 0), y0 = random(arena, len, 0), y1 = random(arena, len, 0);
            REF.dropout(x, 0, m0, 0, y0, 0, len, p, 42);
            FAST.dropout(x, 0, m1, 0, y1, 0, len, p, 42);
            assertClose("dropout mask", m0, m1, len, 0, 0);
            int dropped = 0;
            for (int i = 0; i < len; i++) if (m1.getAtIndex(ValueLayout.JAVA_FLOAT, i) == 0f) dropped++;
            double rate = (double) dropped / len;
            if (Math.abs(rate - p) > 4 * Math.sqrt(p * (1 - p) / len) + 1e-9) throw new AssertionError("dropout rate " + rate + " for p=" + p);
        }
    }

    @Provide
    Arbitrary<Float> probabilities() { return Arbitraries.of(0.1f, 0.5f); }

    @Property
    void optimizerKernels(@ForAll("cols") int n, @ForAll boolean nesterov) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment p0 = random(arena, n, 1), p1 = copy(arena, p0), g = random(arena, n, 2);
            MemorySegment m0 = random(arena, n, 3), m1 = copy(arena, m0), v0 = random(arena, n, 4);
            for (int i = 0; i < n; i++) v0.setAtIndex(ValueLayout.JAVA_FLOAT, i, Math.abs(v0.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
            MemorySegment v1 = copy(arena, v0);
            REF.adamw(p0, 0, g, 0, m0, 0, v0, 0, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 0.1f, 0.001f);
            FAST.adamw(p1, 0, g, 0, m1, 0, v1, 0, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 0.1f, 0.001f);
            assertClose("adamw p", p0, p1, n, 1e-6, 1e-5);
            assertClose("adamw m", m0, m1, n, 1e-6, 1e-5);
            assertClose("adamw v", v0, v1, n, 1e-6, 1e-5);
            REF.sgd(p0, 0, g, 0, m0, 0, n, 0.1f, 0.9f, nesterov, 1e-4f);
            FAST.sgd(p1, 0, g, 0, m1, 0, n, 0.1f, 0.9f, nesterov, 1e-4f);
            assertClose("sgd p", p0, p1, n, 1e-5, 1e-5);
            REF.ema(v0, 0, p0, 0, n, 0.99f);
            FAST.ema(v1, 0, p0, 0, n, 0.99f);
            assertClose("ema", v0, v1, n, 1e-6, 1e-5);
        }
    }

    @Example
    void largeInputsTakeTheParallelPathAndAgree() {
        int r = 203, c = 769;
        long n = (long) r * c;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = random(arena, n, 1), g = random(arena, c, 2), b = random(arena, c, 3), dy = random(arena, n, 4);
            MemorySegment y0 = random(arena, n, 0), y1 = random(arena, n, 0), m0 = random(arena, r, 0), m1 = random(arena, r, 0), s0 = random(arena, r, 0), s1 = random(arena, r, 0);
            REF.softmax(x, 0, y0, 0, r, c); FAST.softmax(x, 0, y1, 0, r, c);
            assertClose("parallel softmax", y0, y1, n, 1e-6, 1e-5);
            REF.layerNorm(x, 0, g, 0, b, 0, y0, 0, m0, 0, s0, 0, r, c, 1e-6f); FAST.layerNorm(x, 0, g, 0, b, 0, y1, 0, m1, 0, s1, 0, r, c, 1e-6f);
            assertClose("parallel layerNorm", y0, y1, n, 1e-4, 1e-4);
            MemorySegment dx0 = random(arena, n, 5), dx1 = copy(arena, dx0), dg0 = random(arena, c, 6), dg1 = copy(arena, dg0), db0 = random(arena, c, 7), db1 = copy(arena, db0);
            REF.layerNormBackward(x, 0, g, 0, m0, 0, s0, 0, dy, 0, dx0, 0, dg0, 0, db0, 0, r, c);
            FAST.layerNormBackward(x, 0, g, 0, m0, 0, s0, 0, dy, 0, dx1, 0, dg1, 0, db1, 0, r, c);
            assertClose("parallel layerNorm dx", dx0, dx1, n, 2e-4, 1e-3);
            assertClose("parallel layerNorm dgamma", dg0, dg1, c, 2e-3, 1e-4);
            assertClose("parallel layerNorm dbeta", db0, db1, c, 2e-3, 1e-4);
            REF.activation(Activation.GELU, x, 0, y0, 0, n); FAST.activation(Activation.GELU, x, 0, y1, 0, n);
            assertClose("parallel gelu", y0, y1, n, 1e-6, 1e-5);
            REF.addRow(x, 0, g, 0, y0, 0, r, c); FAST.addRow(x, 0, g, 0, y1, 0, r, c);
            assertClose("parallel addRow", y0, y1, n, 0, 0);
            REF.axpy(0.5f, x, 0, y0, 0, n); FAST.axpy(0.5f, x, 0, y1, 0, n);
            assertClose("parallel axpy", y0, y1, n, 1e-6, 1e-6);
        }
    }

    /** Zero-filled memory without going through the random helper. */
    static final class OffHeap0 {
        static MemorySegment zeros(Arena a, long n) { return dev.tessera.engine.tensor.OffHeap.allocateFloats(a, n); }
    }
}
