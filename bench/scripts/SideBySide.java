import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Two or more builds or settings of Tessera in one JVM, each in its own class loader, timed in alternating rounds: on a
 * shared VM whose speed swings by 30% within minutes, separate JVMs run minutes apart cannot tell 5% apart.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector bench/scripts/SideBySide.java WORKLOAD THREADS ROUNDS SECONDS SETTING...
 *   WORKLOAD: gemm:MxNxK | gemmtn:MxNxK (C += A^T B, a weight gradient) | gemmpacked:MxNxK (C = A W^T, W packed once,
 *             as inference's Linear layers) | attention:N[:BATCH:HEADS:HEADDIM] (12 heads of 64, forward)
 *             | attnbwd:N (its backward pass alone)
 *             | train (D=192 ViT step, batch 128, the trainer's TrainingStep) | train:128 (the D=128 benchmark shape,
 *             depth 6, MLP 256, with SPT and LSA: the default recipe's model until 2026-12-01) | train:plain128 (the same
 *             shape without them: TrainStepBenchmark's D=128 step) | train:recipe (today's
 *             default model: D=128, depth 4, MLP 512, SPT and LSA) | eval (the D=192 model's forward on an inference
 *             tape) | eval:128 (the D=128 benchmark shape's, without SPT and LSA) | infer:FILE[@BATCH] (batch 1 by default) | row:KERNEL[:ROWS[:COLS]]
 *             (copy, layernorm, softmax, gelu, gelu_tanh over 16384 x 768 floats, as RowKernelBenchmark: 100 MB moved
 *             per operation; fewer rows, e.g. 16, keep it in cache, to tell arithmetic from memory; COLS, 768 by default,
 *             e.g. 197 for attention's rows)
 *   SETTING:  classes[,classes...][;prop=value...]   e.g. engine/target/classes,vit/target/classes;tessera.gemm.kc=320
 * </pre>
 * A setting's system properties are set while its classes load (the kernel provider reads them once). Prints the best
 * and the median time per operation of each setting. Eight rounds or more: the first ones after warm-up still compile.
 * Each call goes through reflection (a few hundred bytes of heap per operation), which is noise for millisecond work.
 */
public class SideBySide {
    public static void main(String[] a) throws Exception {
        if (a.length < 5) throw new IllegalArgumentException("usage: WORKLOAD THREADS ROUNDS SECONDS SETTING...");
        String workload = a[0];
        int threads = Integer.parseInt(a[1]), rounds = Integer.parseInt(a[2]);
        double seconds = Double.parseDouble(a[3]);
        List<String> names = new ArrayList<>();
        List<Runnable> ops = new ArrayList<>();
        for (int i = 4; i < a.length; i++) {
            String[] parts = a[i].split(";");
            List<URL> urls = new ArrayList<>();
            for (String c : parts[0].split(",")) urls.add(Path.of(c).toUri().toURL());
            List<String> props = Arrays.asList(parts).subList(1, parts.length);
            for (String p : props) System.setProperty(p.substring(0, p.indexOf('=')), p.substring(p.indexOf('=') + 1));
            ClassLoader l = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader());
            ops.add(workload(l, workload, threads));
            for (String p : props) System.clearProperty(p.substring(0, p.indexOf('=')));
            names.add(a[i]);
        }
        double[][] ms = new double[ops.size()][rounds];
        for (int r = -3; r < rounds; r++) {                 // three rounds warm every setting up first
            for (int s = 0; s < ops.size(); s++) {
                long t0 = System.nanoTime();
                int n = 0;
                while (System.nanoTime() - t0 < seconds * 1e9 || n == 0) { ops.get(s).run(); n++; }
                if (r >= 0) ms[s][r] = (System.nanoTime() - t0) / 1e6 / n;
            }
        }
        for (int s = 0; s < ops.size(); s++) {
            double[] v = ms[s].clone();
            Arrays.sort(v);
            System.out.printf("%s %dT  best %.4f ms  median %.4f ms  %s%n", workload, threads, v[0], v[v.length / 2], names.get(s));
        }
    }

    /** One operation of the workload, built from the loader's own classes (reflection: no class is shared). */
    private static Runnable workload(ClassLoader l, String w, int threads) throws Exception {
        l.loadClass("dev.tessera.engine.kernels.Parallel").getMethod("setThreads", int.class).invoke(null, threads);
        Object k = l.loadClass("dev.tessera.engine.kernels.KernelProvider").getMethod("get").invoke(null);
        Class<?> kernels = l.loadClass("dev.tessera.engine.kernels.Kernels");
        Arena arena = Arena.ofShared();
        java.util.Random rnd = new java.util.Random(1);
        if (w.startsWith("gemm:") || w.startsWith("gemmtn:")) {
            boolean tn = w.startsWith("gemmtn:");
            String[] s = w.substring(w.indexOf(':') + 1).split("x");
            int m = Integer.parseInt(s[0]), n = Integer.parseInt(s[1]), kk = Integer.parseInt(s[2]);
            MemorySegment x = random(arena, (long) m * kk, rnd), y = random(arena, (long) kk * n, rnd), c = arena.allocate(4L * m * n, 64);
            Class<?> ep = l.loadClass("dev.tessera.engine.kernels.Epilogue");
            Object none = ep.getField("NONE").get(null);
            Method gemm = kernels.getMethod("gemm", boolean.class, boolean.class, int.class, int.class, int.class, float.class,
                    MemorySegment.class, long.class, long.class, MemorySegment.class, long.class, long.class, float.class,
                    MemorySegment.class, long.class, long.class, ep);
            // gemmtn: C (m, n) += A^T B with A stored (k, m), as a weight gradient dW += x^T dy over k tokens.
            if (tn) return () -> invoke(gemm, k, true, false, m, n, kk, 1f, x, 0L, (long) m, y, 0L, (long) n, 1f, c, 0L, (long) n, none);
            return () -> invoke(gemm, k, false, false, m, n, kk, 1f, x, 0L, (long) kk, y, 0L, (long) n, 0f, c, 0L, (long) n, none);
        }
        if (w.startsWith("gemmpacked:")) {
            // gemmpacked:MxNxK, C = A W^T with W (n, k) pre-packed once, as inference's Linear layers run it.
            String[] s = w.substring(w.indexOf(':') + 1).split("x");
            int m = Integer.parseInt(s[0]), n = Integer.parseInt(s[1]), kk = Integer.parseInt(s[2]);
            MemorySegment x = random(arena, (long) m * kk, rnd), wt = random(arena, (long) n * kk, rnd), c = arena.allocate(4L * m * n, 64);
            long floats = (long) invoke(kernels.getMethod("packedFloats", int.class, int.class), k, kk, n);
            MemorySegment dst = arena.allocate(4 * floats, 64);
            Method packB = kernels.getMethod("packB", boolean.class, int.class, int.class, MemorySegment.class, long.class, long.class, MemorySegment.class, long.class);
            Object packed = invoke(packB, k, true, kk, n, wt, 0L, (long) kk, dst, 0L);
            Class<?> ep = l.loadClass("dev.tessera.engine.kernels.Epilogue");
            Object none = ep.getField("NONE").get(null);
            Method gp = kernels.getMethod("gemmPacked", int.class, int.class, int.class, MemorySegment.class, long.class, long.class,
                    l.loadClass("dev.tessera.engine.kernels.PackedMatrix"), MemorySegment.class, long.class, long.class, ep);
            return () -> invoke(gp, k, m, n, kk, x, 0L, (long) kk, packed, c, 0L, (long) n, none);
        }
        if (w.startsWith("attention:") || w.startsWith("attnbwd:")) {
            // attention:N[:BATCH:HEADS:HEADDIM], one image of 12 heads of 64 by default
            String[] f = w.substring(w.indexOf(':') + 1).split(":");
            int n = Integer.parseInt(f[0]), batch = f.length > 1 ? Integer.parseInt(f[1]) : 1;
            int h = f.length > 2 ? Integer.parseInt(f[2]) : 12, d = f.length > 3 ? Integer.parseInt(f[3]) : 64;
            Class<?> shape = l.loadClass("dev.tessera.engine.kernels.AttentionShape"), drop = l.loadClass("dev.tessera.engine.kernels.AttentionDropout");
            Object s = shape.getMethod("packedQkv", int.class, int.class, int.class, int.class).invoke(null, batch, n, h, d);
            Object none = drop.getField("NONE").get(null);
            MemorySegment qkv = random(arena, (long) batch * n * 3 * h * d, rnd), o = arena.allocate(4L * batch * n * h * d, 64), lse = arena.allocate(4L * batch * h * n, 64);
            float[] scale = new float[h];
            Arrays.fill(scale, 0.125f);
            long dim = (long) h * d;
            Method att = kernels.getMethod("attention", shape, MemorySegment.class, long.class, MemorySegment.class, long.class,
                    MemorySegment.class, long.class, float[].class, MemorySegment.class, long.class, drop, MemorySegment.class, long.class,
                    MemorySegment.class, long.class);
            if (!w.startsWith("attention:")) {
                // attnbwd: the backward pass alone, from one forward pass's output and log-sum-exp.
                invoke(att, k, s, qkv, 0L, qkv, dim, qkv, 2 * dim, scale, null, 0L, none, o, 0L, lse, 0L);
                MemorySegment dO = random(arena, (long) batch * n * h * d, rnd), g = arena.allocate(4L * batch * n * 3 * h * d, 64);
                Method bwd = kernels.getMethod("attentionBackward", shape, MemorySegment.class, long.class, MemorySegment.class, long.class,
                        MemorySegment.class, long.class, float[].class, MemorySegment.class, long.class, drop, MemorySegment.class, long.class,
                        MemorySegment.class, long.class, MemorySegment.class, long.class, MemorySegment.class, long.class,
                        MemorySegment.class, long.class, MemorySegment.class, long.class, double[].class);
                return () -> invoke(bwd, k, s, qkv, 0L, qkv, dim, qkv, 2 * dim, scale, null, 0L, none, o, 0L, dO, 0L, lse, 0L,
                        g, 0L, g, dim, g, 2 * dim, null);
            }
            return () -> invoke(att, k, s, qkv, 0L, qkv, dim, qkv, 2 * dim, scale, null, 0L, none, o, 0L, lse, 0L);
        }
        if (w.startsWith("row:")) {
            String[] rk = w.substring(4).split(":");
            int rows = rk.length > 1 ? Integer.parseInt(rk[1]) : 16384, cols = rk.length > 2 ? Integer.parseInt(rk[2]) : 768;
            long n = (long) rows * cols;
            MemorySegment x = random(arena, n, rnd), y = arena.allocate(4 * n, 64), g = random(arena, cols, rnd), b = random(arena, cols, rnd);
            MemorySegment mean = arena.allocate(4L * rows, 64), rstd = arena.allocate(4L * rows, 64);
            Class<?> act = l.loadClass("dev.tessera.engine.kernels.Activation");
            Method activation = kernels.getMethod("activation", act, MemorySegment.class, long.class, MemorySegment.class, long.class, long.class);
            return switch (rk[0]) {
                case "copy" -> {
                    Method copy = kernels.getMethod("copy", MemorySegment.class, long.class, MemorySegment.class, long.class, long.class);
                    yield () -> invoke(copy, k, x, 0L, y, 0L, n);
                }
                case "layernorm" -> {
                    Method ln = kernels.getMethod("layerNorm", MemorySegment.class, long.class, MemorySegment.class, long.class, MemorySegment.class, long.class,
                            MemorySegment.class, long.class, MemorySegment.class, long.class, MemorySegment.class, long.class, int.class, int.class, float.class);
                    yield () -> invoke(ln, k, x, 0L, g, 0L, b, 0L, y, 0L, mean, 0L, rstd, 0L, rows, cols, 1e-6f);
                }
                case "softmax" -> {
                    Method sm = kernels.getMethod("softmax", MemorySegment.class, long.class, MemorySegment.class, long.class, int.class, int.class);
                    yield () -> invoke(sm, k, x, 0L, y, 0L, rows, cols);
                }
                case "gelu", "gelu_tanh" -> {
                    Object a = act.getField(rk[0].toUpperCase()).get(null);
                    yield () -> invoke(activation, k, a, x, 0L, y, 0L, n);
                }
                default -> throw new IllegalArgumentException("unknown row kernel " + w);
            };
        }
        if (w.equals("train") || w.equals("train:128") || w.equals("train:plain128") || w.equals("train:recipe") || w.equals("eval") || w.equals("eval:128") || w.startsWith("infer:")) {
            Class<?> vitClass = l.loadClass("dev.tessera.vit.model.VisionTransformer");
            // Chunking reads its property (tessera.chunk.tokens) once: initialise it while this setting's are set.
            Class.forName("dev.tessera.vit.model.BatchChunks", true, l);
            try {
                Class.forName("dev.tessera.vit.model.DataParallel", true, l);   // tessera.dataParallel, likewise
            } catch (ClassNotFoundException older) {
                // builds before 2026-12-02 split every kernel
            }
            if (w.startsWith("infer:")) {
                String spec = w.substring(6);
                int at = spec.lastIndexOf('@'), batch = at < 0 ? 1 : Integer.parseInt(spec.substring(at + 1));
                Object vit = vitClass.getMethod("load", Path.class).invoke(null, Path.of(at < 0 ? spec : spec.substring(0, at)));
                Object cfg = vitClass.getMethod("config").invoke(vit);
                int size = (int) cfg.getClass().getMethod("channels").invoke(cfg) * (int) cfg.getClass().getMethod("imageHeight").invoke(cfg)
                        * (int) cfg.getClass().getMethod("imageWidth").invoke(cfg);
                float[] in = new float[size * batch];
                for (int i = 0; i < in.length; i++) in[i] = (float) rnd.nextGaussian();
                Method logits = vitClass.getMethod("logits", float[].class, int.class);
                return () -> invoke(logits, vit, in, batch);
            }
            Class<?> cfgClass = l.loadClass("dev.tessera.vit.model.ViTConfig");
            boolean plain = w.equals("train:plain128"), recipe = w.startsWith("train:") && !plain, today = w.equals("train:recipe"), small = recipe || plain || w.equals("eval:128");
            Object cfg = cfgClass.getMethod("of", int.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class)
                    .invoke(null, 28, 28, 1, 4, small ? 128 : 192, today ? 4 : 6, small ? 4 : 3, today ? 512 : small ? 256 : 768, 10);
            if (recipe) cfg = cfgClass.getMethod("withSmallDataMethods", boolean.class, boolean.class).invoke(cfg, true, true);
            Object vit = vitClass.getConstructor(cfgClass, long.class).newInstance(cfg, 0L);
            Object params = vitClass.getMethod("parameters").invoke(vit);
            Object opt = l.loadClass("dev.tessera.engine.optim.AdamW").getConstructor(l.loadClass("dev.tessera.engine.nn.ParameterSet"), float.class, float.class, float.class, float.class)
                    .newInstance(params, 0.9f, 0.999f, 1e-8f, 0.05f);
            Class<?> wsClass = l.loadClass("dev.tessera.engine.tensor.Workspace"), tapeClass = l.loadClass("dev.tessera.engine.autograd.Tape");
            Class<?> tensor = l.loadClass("dev.tessera.engine.tensor.Tensor");
            Object ws = wsClass.getConstructor().newInstance();
            float[] images = new float[128 * 28 * 28];
            for (int i = 0; i < images.length; i++) images[i] = (float) rnd.nextGaussian();
            int[] labels = new int[128];
            for (int i = 0; i < labels.length; i++) labels[i] = rnd.nextInt(10);
            Method allocate = wsClass.getMethod("allocate", int[].class), reset = tapeClass.getMethod("reset");
            Method copyFrom = tensor.getMethod("copyFrom", float[].class), forward = vitClass.getMethod("forward", tapeClass, tensor, long.class);
            long[] seed = {0};
            if (w.startsWith("eval")) {
                Method inference = tapeClass.getMethod("inference", wsClass);
                return () -> {
                    Object tape = invoke(inference, null, ws);
                    Object x = invoke(copyFrom, invoke(allocate, ws, (Object) new int[] {128, 1, 28, 28}), (Object) images);
                    invoke(forward, vit, tape, x, 0L);
                    invoke(reset, tape);
                };
            }
            // The trainer's own step: forward, cross-entropy, backward, AdamW (no clipping), as the builds define it.
            Class<?> optimizer = l.loadClass("dev.tessera.engine.optim.Optimizer");
            Method run = l.loadClass("dev.tessera.vit.train.TrainingStep").getMethod("run", vitClass, optimizer, wsClass, float[].class, int.class,
                    int[].class, float[].class, float.class, double.class, float.class, long.class);
            return () -> invoke(run, null, vit, opt, ws, images, 128, labels, null, 0f, 0.0, 1e-4f, seed[0]++);
        }
        throw new IllegalArgumentException("unknown workload " + w);
    }

    private static Object invoke(Method m, Object target, Object... args) {
        try {
            return m.invoke(target, args);
        } catch (ReflectiveOperationException e) {
            throw new RuntimeException(e.getCause() != null ? e.getCause() : e);
        }
    }

    private static MemorySegment random(Arena arena, long n, java.util.Random r) {
        MemorySegment s = arena.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        return s;
    }
}
