package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.kernels.gemm.Blocking;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Whether B read in place stays in L2, for the cache geometries the decision was measured on. */
@Tag("kernels")
class BlockingTest {
    private static final long KIB = 1024;

    @Test
    void wideRowsOfBAreReadPacked() {
        // Zen 3: 512 KiB, 8 ways, 6x16 kernel, kc 1024, nc 64. A 2304-wide B (an attention QKV weight) maps a 1024 x 64
        // block onto 320 of the 1024 sets: packed (measured 13.7 ms in place against 11.4 packed for 197x768x3072).
        Blocking zen3 = new Blocking(6, 16, 1024, 64, 512 * KIB, 8, false);
        assertFalse(zen3.fitsInPlace(2304, 1024, 64));
        assertFalse(zen3.fitsInPlace(768, 1024, 64));
        // 1 MiB, 8 ways, 12x32 kernel, kc 768 and nc 160: the same strides fill 3/4 of their lines, more than the
        // half the block may take (packed: 197x2304x768 5% faster on Zen 5); narrower blocks are read in place.
        Blocking zen4 = new Blocking(12, 32, 768, 160, 1024 * KIB, 8, false);
        assertFalse(zen4.fitsInPlace(2304, 768, 160));
        assertFalse(zen4.fitsInPlace(768, 768, 160));
        assertTrue(zen4.fitsInPlace(768, 384, 96));
    }

    @Test
    void narrowBlocksFitAndPowerOfTwoStridesDoNot() {
        Blocking zen3 = new Blocking(6, 16, 1024, 64, 512 * KIB, 8, false);
        // A D = 192 model's products: K = 192 rows of B 192-768 wide, nc 336 for 192-deep panels (half of L2). The
        // 576- and 768-wide Bs' blocks fill 4224 of the 8192 lines their sets hold on Zen 3: more than half, packed.
        assertTrue(zen3.fitsInPlace(192, 192, 192));
        assertTrue(zen3.fitsInPlace(576, 96, 336));
        assertFalse(zen3.fitsInPlace(576, 192, 336));
        assertFalse(zen3.fitsInPlace(768, 192, 336));
        // Rows 64 KiB apart all start in one set: 8 rows' lines fill its 8 ways, and the block may take half of them.
        assertTrue(zen3.fitsInPlace(16384, 4, 64));
        assertFalse(zen3.fitsInPlace(16384, 5, 64));
    }

    @Test
    void aBlockThatWouldFillItsSetsIsPacked() {
        // Zen 5: 1 MiB, 12x32 kernel, kc 1024, nc 96. A 768-wide B (an MLP's second weight, 197x768x3072) maps a
        // 1024 x 96 block onto exactly the 7168 lines its sets hold: packed (7.09 ms in place, 6.11 packed).
        Blocking zen5 = new Blocking(12, 32, 1024, 96, 1024 * KIB, 8, false);
        assertFalse(zen5.fitsInPlace(768, 1024, 96));
        assertTrue(zen5.fitsInPlace(768, 512, 96));
    }
}
