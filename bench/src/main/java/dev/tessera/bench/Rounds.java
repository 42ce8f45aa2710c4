package dev.tessera.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Per-round figures of the in-JVM pairings ({@link AttentionPairing}, {@link RowPairing}): medians and JSON lists. */
final class Rounds {
    private Rounds() {}

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** The values formatted with {@code format}, comma-separated, for a JSON array. */
    static String list(double[] v, String format) {
        List<String> l = new ArrayList<>();
        for (double x : v) l.add(String.format(format, x));
        return String.join(", ", l);
    }

    /** How many rounds reached {@code bar}. */
    static int atLeast(double[] v, double bar) {
        int n = 0;
        for (double x : v) if (x >= bar) n++;
        return n;
    }
}
