package dev.tessera.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.nn.Linear;
import dev.tessera.engine.nn.Parameter;
import dev.tessera.engine.nn.ParameterSet;
import dev.tessera.engine.optim.AdamW;
import dev.tessera.engine.optim.Ema;
import dev.tessera.engine.optim.GradClip;
import dev.tessera.engine.optim.LrSchedule;
import dev.tessera.engine.optim.Sgd;
import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class OptimTest {

    @Test
    void adamwFirstStepMovesBySignOfGradientTimesLr() {
        try (ParameterSet ps = new ParameterSet(1)) {
            Parameter w = ps.constant("w", true, 1f, 3);
            Parameter b = ps.constant("b", false, 1f, 3);
            w.grad().copyFrom(new float[] {0.5f, -2f, 0f});
            b.grad().copyFrom(new float[] {0.5f, -2f, 0f});
            new AdamW(ps, 0.9f, 0.999f, 1e-8f, 0.1f).step(0.01f);
            // Bias-corrected first step: update = lr * g/|g|; decay lr*wd*p only where decay applies.
            assertArrayEquals(new float[] {1f - 0.001f - 0.01f, 1f - 0.001f + 0.01f, 1f - 0.001f}, w.value().toArray(), 1e-6f);
            assertArrayEquals(new float[] {1f - 0.01f, 1f + 0.01f, 1f}, b.value().toArray(), 1e-6f);
        }
    }

    @Test
    void sgdMomentumAndNesterovFollowPyTorch() {
        try (ParameterSet ps = new ParameterSet(1)) {
            Parameter p = ps.constant("p", false, 1f, 1);
            Sgd plain = new Sgd(ps, 0.9f, false, 0f);
            p.grad().fill(1f);
            plain.step(0.1f); // buf = 1, p = 0.9
            plain.step(0.1f); // buf = 1.9, p = 0.71
            assertEquals(0.71f, p.value().getFlat(0), 1e-6f);
        }
        try (ParameterSet ps = new ParameterSet(1)) {
            Parameter p = ps.constant("p", false, 1f, 1);
            Sgd nest = new Sgd(ps, 0.9f, true, 0f);
            p.grad().fill(1f);
            nest.step(0.1f); // buf = 1, step = 1 + 0.9 = 1.9, p = 0.81
            assertEquals(0.81f, p.value().getFlat(0), 1e-6f);
        }
    }

    @Test
    void scheduleWarmsUpThenDecays() {
        LrSchedule s = new LrSchedule(1f, 10, 110, LrSchedule.Decay.COSINE, 0f);
        assertEquals(0.1f, s.at(0), 1e-6f);
        assertEquals(1f, s.at(9), 1e-6f);
        assertEquals(1f, s.at(10), 1e-6f);
        assertEquals(0.5f, s.at(60), 1e-6f);
        assertEquals(0f, s.at(110), 1e-6f);
        LrSchedule lin = new LrSchedule(2f, 0, 100, LrSchedule.Decay.LINEAR, 0f);
        assertEquals(1f, lin.at(50), 1e-6f);
    }

    @Test
    void clippingScalesToTheGlobalNorm() {
        try (ParameterSet ps = new ParameterSet(1)) {
            Parameter a = ps.create("a", true, 2), b = ps.create("b", true, 1);
            a.grad().copyFrom(new float[] {3f, 0f});
            b.grad().copyFrom(new float[] {4f});
            double norm = GradClip.clipGlobalNorm(ps.all(), 1.0);
            assertEquals(5.0, norm, 1e-6);
            assertEquals(0.6f, a.grad().getFlat(0), 1e-5f);
            assertEquals(0.8f, b.grad().getFlat(0), 1e-5f);
            a.grad().setFlat(1, Float.NaN);
            assertTrue(Double.isNaN(GradClip.clipGlobalNorm(ps.all(), 1.0)));
        }
    }

    @Test
    void emaTracksAndSwaps() {
        try (ParameterSet ps = new ParameterSet(1)) {
            Parameter p = ps.constant("p", true, 0f, 2);
            Ema ema = new Ema(ps, 0.5f);
            p.value().fill(4f);
            ema.update();
            ema.swap();
            assertEquals(2f, p.value().getFlat(0), 1e-6f);
            ema.swap();
            assertEquals(4f, p.value().getFlat(0), 1e-6f);
        }
    }

    @Test
    void aLinearModelLearnsAndSteadyStateAllocatesNothingOffHeap() {
        try (ParameterSet ps = new ParameterSet(3); Workspace ws = new Workspace(); Arena arena = Arena.ofShared()) {
            Linear layer = new Linear(ps, "fc", 8, 4, true);
            AdamW opt = new AdamW(ps, 0.9f, 0.999f, 1e-8f, 0f);
            Tensor x = Tensor.zeros(arena, 32, 8);
            int[] labels = new int[32];
            for (int i = 0; i < 32; i++) {
                labels[i] = i % 4;
                x.set(1f, i, labels[i]);
                x.set(0.5f, i, 4 + (i % 3));
            }
            Tape tape = Tape.training(ws);
            double first = 0, last = 0;
            long offHeapAfterFirst = 0;
            for (int step = 0; step < 60; step++) {
                ps.zeroGrad();
                Tensor loss = Ops.crossEntropy(tape, layer.forward(tape, x), labels, null, 0f);
                tape.backward(loss);
                opt.step(0.05f);
                if (step == 0) first = loss.getFlat(0);
                last = loss.getFlat(0);
                tape.reset();
                if (step == 0) offHeapAfterFirst = OffHeap.allocatedBytes();
            }
            assertTrue(last < 0.1 * first, "loss went from " + first + " to " + last);
            assertEquals(offHeapAfterFirst, OffHeap.allocatedBytes(), "steady-state steps allocated off-heap memory");
        }
    }
}
