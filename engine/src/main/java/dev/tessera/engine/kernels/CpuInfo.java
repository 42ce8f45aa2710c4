package dev.tessera.engine.kernels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What the kernels need to know about the CPU: cache sizes (for GEMM blocking), the model name and flags (for reports).
 * Read from Linux sysfs and /proc when present; elsewhere the defaults are those of a common x86 core.
 * {@code cacheSource} says where the L2 size came from, since GEMM blocking follows it.
 */
public record CpuInfo(String model, int cores, long l1dBytes, long l2Bytes, int l2Ways, long l3Bytes, String flags,
                      String cacheSource) {

    public static final long DEFAULT_L1D = 32 * 1024, DEFAULT_L2 = 512 * 1024, DEFAULT_L3 = 8 * 1024 * 1024;
    public static final int DEFAULT_L2_WAYS = 8;

    private static final CpuInfo DETECTED = detect();

    public static CpuInfo get() { return DETECTED; }

    static CpuInfo detect() {
        long l1 = DEFAULT_L1D, l2 = DEFAULT_L2, l3 = DEFAULT_L3;
        int l2Ways = DEFAULT_L2_WAYS;
        String source = "defaults";
        Path cache = Path.of("/sys/devices/system/cpu/cpu0/cache");
        for (int i = 0; i < 8; i++) {
            Path idx = cache.resolve("index" + i);
            String level = read(idx.resolve("level")), type = read(idx.resolve("type")), size = read(idx.resolve("size"));
            if (level == null || type == null || size == null) continue;
            long bytes = parseSize(size);
            if (bytes <= 0) continue;
            switch (level.trim()) {
                case "1" -> { if (!type.trim().equals("Instruction")) l1 = bytes; }
                case "2" -> {
                    l2 = bytes;
                    source = "sysfs";
                    String ways = read(idx.resolve("ways_of_associativity"));
                    long w = ways == null ? -1 : parseSize(ways);
                    if (w > 0 && w <= 64) l2Ways = (int) w;
                }
                case "3" -> l3 = bytes;
                default -> { }
            }
        }
        String model = System.getProperty("os.arch"), flags = "";
        String cpuinfo = read(Path.of("/proc/cpuinfo"));
        if (cpuinfo != null && source.equals("defaults")) {
            long fromCpuinfo = amdL2FromCpuinfo(cpuinfo);
            if (fromCpuinfo > 0) { l2 = fromCpuinfo; source = "/proc/cpuinfo"; }
        }
        if (cpuinfo != null) {
            for (String line : cpuinfo.split("\n")) {
                if (line.startsWith("model name") && model.equals(System.getProperty("os.arch"))) model = line.substring(line.indexOf(':') + 1).trim();
                if ((line.startsWith("flags") || line.startsWith("Features")) && flags.isEmpty()) flags = line.substring(line.indexOf(':') + 1).trim();
            }
        }
        return new CpuInfo(model, Runtime.getRuntime().availableProcessors(), l1, l2, l2Ways, l3, flags, source);
    }

    /**
     * Virtual machines often have no cache directories in sysfs. AMD's /proc/cpuinfo "cache size" is the L2 of one
     * core (Zen 5: 1024 KB), which is what blocking needs; on Intel the same line is the shared last level, so it is
     * only trusted on AMD and Hygon. Without it a 1 MiB L2 was taken for the default 512 KiB and every B panel held 32
     * columns instead of 96. Returns -1 when the text does not say.
     */
    public static long amdL2FromCpuinfo(String cpuinfo) {
        boolean amd = false;
        long size = -1;
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) continue;
            String key = line.substring(0, colon).trim(), value = line.substring(colon + 1).trim();
            if (key.equals("vendor_id")) amd = value.equals("AuthenticAMD") || value.equals("HygonGenuine");
            if (key.equals("cache size") && size < 0) {
                String v = value.toUpperCase(Locale.ROOT).replace(" ", "");
                size = parseSize(v.endsWith("KB") || v.endsWith("MB") ? v.substring(0, v.length() - 1) : v);
            }
            if (line.isBlank() && size >= 0) break;
        }
        return amd && size >= 64 * 1024 && size <= 64L * 1024 * 1024 ? size : -1;
    }

    public boolean hasFlag(String f) {
        for (String s : flags.split(" ")) if (s.equals(f)) return true;
        return false;
    }

    static long parseSize(String s) {
        s = s.trim().toUpperCase(Locale.ROOT);
        try {
            if (s.endsWith("K")) return Long.parseLong(s.substring(0, s.length() - 1)) * 1024;
            if (s.endsWith("M")) return Long.parseLong(s.substring(0, s.length() - 1)) * 1024 * 1024;
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static String read(Path p) {
        try {
            return Files.isReadable(p) ? Files.readString(p) : null;
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
