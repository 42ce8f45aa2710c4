import java.lang.foreign.*;
import java.lang.reflect.Method;
import java.net.*;
import java.nio.file.Path;
import java.util.*;
/**
 * Packing a B stored transposed (k x n, its columns as rows: W^T of a linear layer's input gradient) into GEMM panels,
 * two or more builds alternating in one JVM, each in its own class loader, one thread; best and median of 30 rounds of
 * 20, and whether two builds' panels are equal.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector bench/scripts/PackBTProbe.java K N CLASSES...   # e.g. 576 192 old/classes engine/target/classes
 * </pre>
 */
public class PackBTProbe {
    public static void main(String[] a) throws Exception {
        int k = Integer.parseInt(a[0]), n = Integer.parseInt(a[1]);
        List<Runnable> ops = new ArrayList<>(); List<MemorySegment> outs = new ArrayList<>();
        for (int s = 2; s < a.length; s++) {
            ClassLoader l = new URLClassLoader(new URL[]{Path.of(a[s]).toUri().toURL()}, ClassLoader.getPlatformClassLoader());
            l.loadClass("dev.tessera.engine.kernels.Parallel").getMethod("setThreads", int.class).invoke(null, 1);
            Object kern = l.loadClass("dev.tessera.engine.kernels.KernelProvider").getMethod("get").invoke(null);
            Class<?> kc = l.loadClass("dev.tessera.engine.kernels.Kernels");
            Method pack = kc.getMethod("packB", boolean.class, int.class, int.class, MemorySegment.class, long.class, long.class, MemorySegment.class, long.class);
            Method fl = kc.getMethod("packedFloats", int.class, int.class);
            long floats = (long) fl.invoke(kern, k, n);
            Arena ar = Arena.ofShared();
            MemorySegment b = ar.allocate(4L * k * n, 64), dst = ar.allocate(4 * floats + 64, 64);
            Random r = new Random(1); for (long i = 0; i < (long) k * n; i++) b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            outs.add(dst);
            ops.add(() -> { try { pack.invoke(kern, true, k, n, b, 0L, (long) k, dst, 0L); } catch (Exception e) { throw new RuntimeException(e); } });
        }
        double[][] t = new double[ops.size()][30];
        for (int round = -5; round < 30; round++) for (int s = 0; s < ops.size(); s++) {
            long t0 = System.nanoTime(); for (int i = 0; i < 20; i++) ops.get(s).run();
            if (round >= 0) t[s][round] = (System.nanoTime() - t0) / 20e3;
        }
        for (int s = 0; s < ops.size(); s++) { double[] v = t[s].clone(); Arrays.sort(v); System.out.printf("%s k=%d n=%d best %.1f us median %.1f us%n", a[s + 2], k, n, v[0], v[15]); }
        if (outs.size() == 2) System.out.println("equal: " + (outs.get(0).mismatch(outs.get(1)) == -1));
    }
}
