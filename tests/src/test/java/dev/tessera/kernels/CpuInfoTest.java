package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.kernels.CpuInfo;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The L2 size from /proc/cpuinfo, for virtual machines whose sysfs has no cache directories. */
@Tag("kernels")
class CpuInfoTest {

    private static String cpuinfo(String vendor, String cacheSize) {
        String one = "processor\t: %d\nvendor_id\t: " + vendor + "\ncpu family\t: 26\nmodel name\t: AMD EPYC\n"
                + (cacheSize == null ? "" : "cache size\t: " + cacheSize + "\n") + "flags\t\t: fpu avx512f\n\n";
        return one.formatted(0) + one.formatted(1);
    }

    @Test
    void amdCacheSizeIsTheL2OfOneCore() {
        assertEquals(1024 * 1024, CpuInfo.amdL2FromCpuinfo(cpuinfo("AuthenticAMD", "1024 KB")));
        assertEquals(512 * 1024, CpuInfo.amdL2FromCpuinfo(cpuinfo("AuthenticAMD", "512 KB")));
        assertEquals(2 * 1024 * 1024, CpuInfo.amdL2FromCpuinfo(cpuinfo("HygonGenuine", "2 MB")));
    }

    @Test
    void intelCacheSizeIsTheLastLevelAndIsNotTaken() {
        assertEquals(-1, CpuInfo.amdL2FromCpuinfo(cpuinfo("GenuineIntel", "33792 KB")));
    }

    @Test
    void missingOrImplausibleSizesAreNotTaken() {
        assertEquals(-1, CpuInfo.amdL2FromCpuinfo(cpuinfo("AuthenticAMD", null)));
        assertEquals(-1, CpuInfo.amdL2FromCpuinfo(cpuinfo("AuthenticAMD", "lots")));
        assertEquals(-1, CpuInfo.amdL2FromCpuinfo(cpuinfo("AuthenticAMD", "16 KB")));
        assertEquals(-1, CpuInfo.amdL2FromCpuinfo(""));
    }

    @Test
    void theDetectedInfoNamesItsSource() {
        String source = CpuInfo.get().cacheSource();
        assertTrue(source.equals("sysfs") || source.equals("/proc/cpuinfo") || source.equals("defaults"), source);
        assertTrue(CpuInfo.get().l2Bytes() >= 64 * 1024);
    }
}
