package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.kernels.gemm.GemmDriver;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Tag;

/** The pre-packed GEMM's column tasks: every tile in exactly one task, in tasks that never grow. */
@Tag("kernels")
class GuidedCutsTest {

    @Property(tries = 300)
    void cutsCoverEveryTileOnceAndShrink(@ForAll @IntRange(min = 1, max = 400) int tiles, @ForAll @IntRange(min = 1, max = 9) int threads) {
        int[] cuts = GemmDriver.guidedCuts(tiles, threads);
        assertEquals(0, cuts[0]);
        assertEquals(tiles, cuts[cuts.length - 1]);
        for (int i = 1; i < cuts.length; i++) {
            assertTrue(cuts[i] > cuts[i - 1], "empty task at " + i);
            if (i > 1) assertTrue(cuts[i] - cuts[i - 1] <= cuts[i - 1] - cuts[i - 2], "task " + i + " larger than the one before");
        }
        // Every thread gets work, and the last task is a single tile: the threads finish within one tile of each other.
        assertTrue(cuts.length - 1 >= Math.min(tiles, threads));
        assertEquals(1, cuts[cuts.length - 1] - cuts[cuts.length - 2]);
    }

    @Property(tries = 300)
    void cutsInUnitsStartOnUnits(@ForAll @IntRange(min = 1, max = 400) int tiles, @ForAll @IntRange(min = 1, max = 9) int threads,
                                 @ForAll @IntRange(min = 1, max = 7) int unit) {
        int[] cuts = GemmDriver.guidedCuts(tiles, threads, unit);
        assertEquals(0, cuts[0]);
        assertEquals(tiles, cuts[cuts.length - 1]);
        for (int i = 1; i < cuts.length; i++) assertTrue(cuts[i] > cuts[i - 1], "empty task at " + i);
        for (int i = 0; i < cuts.length - 1; i++) assertEquals(0, cuts[i] % unit, "task " + i + " starts inside a unit");
        assertTrue(cuts.length - 1 >= Math.min((tiles + unit - 1) / unit, threads));
    }
}
