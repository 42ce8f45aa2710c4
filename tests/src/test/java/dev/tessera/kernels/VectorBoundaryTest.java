package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tessera.engine.kernels.KernelProvider;
import java.lang.reflect.Method;
import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The rule the SIMD package lives by (see its package-info): no method of ours takes or returns a vector. C2 inlines
 * our methods only while a compilation is under its node budget, and a vector crossing a call it declined is boxed
 * on the heap; helpers such as exp(FloatVector) made a training step allocate up to 3 GB in some runs.
 */
@Tag("kernels")
class VectorBoundaryTest {
    @Test
    void noSimdMethodTakesOrReturnsAVector() throws Exception {
        assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(), "needs --add-modules jdk.incubator.vector");
        List<String> classes = simdClasses();
        assertTrue(classes.size() >= 5, "found only " + classes);
        List<String> offenders = new ArrayList<>();
        for (String name : classes) {
            for (Method m : Class.forName(name).getDeclaredMethods()) {
                boolean vector = isVector(m.getReturnType());
                for (Class<?> p : m.getParameterTypes()) vector |= isVector(p);
                if (vector) offenders.add(name.substring(name.lastIndexOf('.') + 1) + "." + m.getName());
            }
        }
        assertEquals(List.of(), offenders, "methods with a vector in their signature");
    }

    private static boolean isVector(Class<?> c) {
        return c.getPackageName().equals("jdk.incubator.vector") && jdk.incubator.vector.Vector.class.isAssignableFrom(c);
    }

    private static List<String> simdClasses() throws Exception {
        Path root = Path.of(KernelProvider.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> out = new ArrayList<>();
        if (Files.isDirectory(root)) {
            collect(root, root.resolve("dev/tessera/engine/kernels/simd"), out);
        } else {
            try (FileSystem jar = FileSystems.newFileSystem(URI.create("jar:" + root.toUri()), Map.of())) {
                Path top = jar.getPath("/");
                collect(top, top.resolve("dev/tessera/engine/kernels/simd"), out);
            }
        }
        return out;
    }

    private static void collect(Path root, Path dir, List<String> out) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String rel = root.relativize(f).toString();
                if (rel.endsWith(".class") && !rel.contains("package-info")) out.add(rel.substring(0, rel.length() - 6).replace('/', '.'));
            }
        }
    }
}
