package dev.tessera.engine.tensor;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Memory for large, long-lived, streamed data (pre-packed weights) in transparent huge pages on Linux: anonymous
 * {@code mmap}, aligned to 2 MiB, with {@code madvise(MADV_HUGEPAGE)} before the first touch, through the JDK's own
 * foreign-function API (libc only: no library of ours, nothing extracted). ViT-B/16 streams all 346 MB of its packed
 * weights from memory once per image; in 4 KiB pages, one thread at batch 1 ran 264.8 ms (best) / 278.6 (median)
 * against 230.7 / 240.1 in huge pages (one JVM, alternating rounds, Zen 5, 2026-12-02); at two threads the medians
 * were 143.1 against 136.9. That comparison shares one process, and huge pages in a process slowed ONNX Runtime
 * beside them (bench/peers/OrtPeer.java), so it may flatter them; in separate JVMs, one after the other (one thread,
 * batch 1, img/s), off 3.43, 4.47, 3.66 and on 4.36, 3.81, 4.28: the host's swings are as large as the effect. The
 * hardware prefetchers stop at 4 KiB page boundaries, and every page costs a TLB walk.
 *
 * <p>Used only on Linux, when this module may call native code ({@code --enable-native-access=ALL-UNNAMED}, which
 * the launcher passes; without it the JDK would print a warning for the restricted calls, so they are not made) and
 * unless {@code -Dtessera.largePages=false}. Anywhere else, or when a call fails, callers get null and allocate as
 * usual. The memory is zero (anonymous mappings are), and it is unmapped when its arena closes.
 */
public final class LargePages {
    /** The huge page size on x86-64 and on arm64 with 4 KiB base pages. */
    static final long HUGE = 2L << 20;
    private static final int PROT_READ_WRITE = 0x1 | 0x2, MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20, MADV_HUGEPAGE = 14;
    private static final boolean WANTED = !"false".equals(System.getProperty("tessera.largePages"));
    private static final System.Logger LOG = System.getLogger("dev.tessera.engine");

    private LargePages() {}

    /** libc's mmap, madvise and munmap, or null where they are not to be called. */
    private record Libc(MethodHandle mmap, MethodHandle madvise, MethodHandle munmap) {}

    private static final class Holder {
        static final Libc LIBC = load();
    }

    /** Whether {@link #allocate} can map huge-page memory in this JVM. */
    public static boolean available() {
        return Holder.LIBC != null;
    }

    /**
     * The kernel's transparent huge page mode (/sys/kernel/mm/transparent_hugepage/enabled: always, madvise or never),
     * or "unknown". Under "never" the advice is taken and ignored: the weights stay in small pages.
     */
    public static String kernelMode() {
        try {
            String s = java.nio.file.Files.readString(java.nio.file.Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
            int a = s.indexOf('['), b = s.indexOf(']');
            return a >= 0 && b > a ? s.substring(a + 1, b) : "unknown";
        } catch (java.io.IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static Libc load() {
        if (!WANTED || !System.getProperty("os.name", "").startsWith("Linux")) return null;
        if (!LargePages.class.getModule().isNativeAccessEnabled()) {
            LOG.log(System.Logger.Level.INFO, "Tessera: pre-packed weights in 4 KiB pages; add --enable-native-access=ALL-UNNAMED "
                    + "for transparent huge pages (ViT-B/16, one thread, batch 1: 7-14% faster here)");
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            return new Libc(
                    linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG)),
                    linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)),
                    linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG)));
        } catch (RuntimeException | LinkageError e) {
            LOG.log(System.Logger.Level.INFO, "Tessera: no transparent huge pages (" + e + ")");
            return null;
        }
    }

    /**
     * {@code bytes} of zeroed memory, 2 MiB aligned and advised into huge pages, freed when {@code arena} closes; null
     * when huge pages are not available here or the mapping failed (then allocate as usual).
     */
    static MemorySegment allocate(Arena arena, long bytes) {
        Libc libc = Holder.LIBC;
        if (libc == null || bytes <= 0) return null;
        long rounded = (bytes + HUGE - 1) / HUGE * HUGE, length = rounded + HUGE;  // room to align the start
        long base;
        try {
            MemorySegment mapped = (MemorySegment) libc.mmap().invokeExact(MemorySegment.NULL, length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
            base = mapped.address();
        } catch (Throwable e) {
            return null;
        }
        if (base == -1L || base == 0L) return null;  // MAP_FAILED
        long start = (base + HUGE - 1) / HUGE * HUGE;
        MethodHandle munmap = libc.munmap();
        try {
            // A kernel without transparent huge pages refuses the advice: the mapping then stays in small pages.
            int advised = (int) libc.madvise().invokeExact(MemorySegment.ofAddress(start), rounded, MADV_HUGEPAGE);
            return MemorySegment.ofAddress(start).reinterpret(bytes, arena, s -> unmap(munmap, base, length));
        } catch (Throwable e) {
            // A closed arena, or one confined to another thread: the mapping would otherwise outlive this call.
            unmap(munmap, base, length);
            return null;
        }
    }

    private static void unmap(MethodHandle munmap, long base, long length) {
        try {
            int rc = (int) munmap.invokeExact(MemorySegment.ofAddress(base), length);
        } catch (Throwable ignored) {
            // Nothing to do: the pages stay mapped until the process ends.
        }
    }
}
