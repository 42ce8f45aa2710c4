package dev.tessera.engine.tensor;

import java.util.Arrays;

/** Small helpers over int[] shapes; shapes print as (B, N, D) the way the papers write them. */
public final class Shapes {
    private Shapes() {}

    public static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new TensorException("negative dimension in shape " + str(shape));
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    public static long[] contiguousStrides(int[] shape) {
        long[] st = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            st[i] = acc;
            acc *= shape[i];
        }
        return st;
    }

    public static String str(int[] shape) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(shape[i]);
        }
        return sb.append(shape.length == 1 ? ",)" : ")").toString();
    }

    public static void requireSame(String op, int[] a, int[] b) {
        if (!Arrays.equals(a, b)) {
            throw new TensorException(op + ": shape mismatch " + str(a) + " vs " + str(b));
        }
    }

    /** Resolves one -1 in a reshape target against the element count. */
    public static int[] resolve(int[] from, int[] to) {
        long n = numel(from);
        int unknown = -1;
        long known = 1;
        for (int i = 0; i < to.length; i++) {
            if (to[i] == -1) {
                if (unknown >= 0) throw new TensorException("reshape " + str(from) + " -> " + str(to) + ": more than one -1");
                unknown = i;
            } else {
                if (to[i] < 0) throw new TensorException("reshape " + str(from) + " -> " + str(to) + ": negative dimension");
                known *= to[i];
            }
        }
        int[] out = to.clone();
        if (unknown >= 0) {
            if (known == 0 || n % known != 0) {
                throw new TensorException("reshape " + str(from) + " -> " + str(to) + ": " + n + " elements do not divide");
            }
            out[unknown] = (int) (n / known);
        }
        if (numel(out) != n) {
            throw new TensorException("reshape " + str(from) + " -> " + str(to) + ": " + n + " elements vs " + numel(out));
        }
        return out;
    }
}
