package dev.tessera.tensor;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import dev.tessera.engine.tensor.Workspace;
import java.lang.foreign.Arena;
import net.jqwik.api.*;
import org.junit.jupiter.api.Test;

class TensorTest {

    static Tensor iota(Arena arena, int... shape) {
        Tensor t = Tensor.zeros(arena, shape);
        for (long i = 0; i < t.numel(); i++) t.setFlat(i, i);
        return t;
    }

    @Test
    void segmentsAre64ByteAligned() {
        try (Arena arena = Arena.ofConfined()) {
            for (int n = 1; n < 40; n += 3) assertEquals(0, Tensor.zeros(arena, n).segment().address() % 64);
        }
    }

    @Test
    void viewsShareMemory() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = iota(arena, 2, 3, 4);
            Tensor tr = t.transpose(1, 2);
            assertArrayEquals(new int[] {2, 4, 3}, tr.shape());
            assertEquals(t.get(1, 2, 3), tr.get(1, 3, 2));
            assertFalse(tr.isContiguous());
            Tensor sl = t.slice(1, 1, 3);
            assertEquals(t.get(0, 1, 0), sl.get(0, 0, 0));
            sl.set(-1f, 0, 0, 0);
            assertEquals(-1f, t.get(0, 1, 0));
            Tensor[] parts = t.split(2, 3);
            assertEquals(2, parts.length);
            assertEquals(1, parts[1].dim(2));
            assertEquals(t.get(1, 2, 3), parts[1].get(1, 2, 0));
            Tensor r = t.reshape(6, -1);
            assertArrayEquals(new int[] {6, 4}, r.shape());
            Tensor p = t.permute(2, 0, 1);
            assertEquals(t.get(1, 2, 3), p.get(3, 1, 2));
            assertEquals(t.get(1, 2, 3), t.select(0, 1).get(2, 3));
        }
    }

    @Property(tries = 30)
    void contiguousCopyOfPermutationKeepsElements(@ForAll("dims") int a, @ForAll("dims") int b, @ForAll("dims") int c) {
        try (Arena arena = Arena.ofConfined(); Workspace ws = new Workspace()) {
            Tensor t = iota(arena, a, b, c);
            Tensor p = t.permute(1, 2, 0).contiguous(ws);
            for (int i = 0; i < a; i++) for (int j = 0; j < b; j++) for (int k = 0; k < c; k++) assertEquals(t.get(i, j, k), p.get(j, k, i));
        }
    }

    @Provide
    Arbitrary<Integer> dims() { return Arbitraries.of(1, 2, 3, 5, 17); }

    @Test
    void errorsNameTheShapes() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.zeros(arena, 2, 3);
            TensorException e = assertThrows(TensorException.class, () -> t.reshape(4, 2));
            assertTrue(e.getMessage().contains("(2, 3)") && e.getMessage().contains("(4, 2)"), e.getMessage());
            e = assertThrows(TensorException.class, () -> t.get(2, 0));
            assertTrue(e.getMessage().contains("(2, 3)"), e.getMessage());
            e = assertThrows(TensorException.class, () -> t.slice(1, 2, 5));
            assertTrue(e.getMessage().contains("(2, 3)"), e.getMessage());
            e = assertThrows(TensorException.class, () -> t.transpose(1, 0).reshape(6));
            assertTrue(e.getMessage().contains("contiguous"), e.getMessage());
        }
    }

    @Test
    void useAfterCloseThrowsInsteadOfCrashing() {
        Arena arena = Arena.ofConfined();
        Tensor t = Tensor.zeros(arena, 4, 5);
        arena.close();
        TensorException e = assertThrows(TensorException.class, () -> t.get(0, 0));
        assertTrue(e.getMessage().contains("(4, 5)") && e.getMessage().contains("released"), e.getMessage());
        assertThrows(TensorException.class, t::toArray);
    }

    @Test
    void workspaceReachesSteadyState() {
        try (Workspace ws = new Workspace()) {
            for (int step = 0; step < 5; step++) {
                long before = OffHeap.allocatedBytes();
                for (int i = 1; i < 50; i++) ws.allocate(i * 1000, 7);
                ws.zeros(3_000_000);
                long grew = OffHeap.allocatedBytes() - before;
                if (step > 0) assertEquals(0, grew, "step " + step + " allocated off-heap memory");
                ws.reset();
            }
            assertTrue(ws.highWaterBytes() > 0);
            assertThrows(TensorException.class, () -> { ws.close(); ws.allocate(1); });
        }
    }

    @org.junit.jupiter.api.Test
    void workspaceMarksGiveBackOnlyWhatCameAfter() {
        try (dev.tessera.engine.tensor.Workspace ws = new dev.tessera.engine.tensor.Workspace()) {
            Tensor keep = ws.allocate(1000).fill(7f);
            dev.tessera.engine.tensor.Workspace.Mark m = ws.mark();
            Tensor tmp = ws.allocate(1 << 21);       // forces a second chunk
            tmp.fill(1f);
            ws.release(m);
            Tensor again = ws.allocate(1000);
            again.fill(3f);
            for (float v : keep.toArray()) org.junit.jupiter.api.Assertions.assertEquals(7f, v, "memory before the mark was reused");
            long cap = ws.capacityBytes();
            for (int i = 0; i < 5; i++) {
                dev.tessera.engine.tensor.Workspace.Mark k = ws.mark();
                ws.allocate(1 << 21);
                ws.release(k);
            }
            org.junit.jupiter.api.Assertions.assertEquals(cap, ws.capacityBytes(), "released memory was not reused");
            ws.reset();
            org.junit.jupiter.api.Assertions.assertThrows(dev.tessera.engine.tensor.TensorException.class, () -> ws.release(m), "a mark from before a reset");
        }
    }
}
