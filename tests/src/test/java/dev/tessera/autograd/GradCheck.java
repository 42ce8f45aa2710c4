package dev.tessera.autograd;

import dev.tessera.engine.autograd.Ops;
import dev.tessera.engine.autograd.Tape;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.Workspace;
import java.lang.foreign.Arena;
import java.util.Random;

/**
 * Central-difference gradient check: loss = sum(f(inputs) * R) for a fixed random R, evaluated in double from the
 * op's float output; each sampled input element is nudged by +-eps and the slope compared with the tape's gradient.
 */
public final class GradCheck {
    public interface Fn {
        Tensor apply(Tape tape, Tensor[] in);
    }

    private GradCheck() {}

    public static Tensor input(Arena arena, long seed, int... shape) {
        Tensor t = Tensor.zeros(arena, shape);
        Random r = new Random(seed);
        for (long i = 0; i < t.numel(); i++) t.setFlat(i, (float) r.nextGaussian());
        return t.requiresGrad(true);
    }

    public static void check(String name, Fn f, Tensor... inputs) {
        check(name, f, 1e-2, 3e-3, 3e-2, inputs);
    }

    public static void check(String name, Fn f, double eps, double atol, double rtol, Tensor... inputs) {
        try (Workspace ws = new Workspace(); Arena arena = Arena.ofShared()) {
            Tape tape = Tape.training(ws);
            Tensor y = f.apply(tape, inputs);
            Tensor r = input(arena, 12345, y.shape()).requiresGrad(false);
            Tensor loss = Ops.sum(tape, Ops.reshape(tape, Ops.mul(tape, y, r), 1, -1), 1);
            for (Tensor in : inputs) in.setGrad(null);
            tape.backward(loss);
            float[][] analytic = new float[inputs.length][];
            for (int i = 0; i < inputs.length; i++) {
                Tensor g = inputs[i].grad();
                analytic[i] = g == null ? new float[(int) inputs[i].numel()] : g.toArray();
            }
            for (Tensor in : inputs) in.setGrad(null);
            tape.reset();
            Random pick = new Random(7);
            for (int i = 0; i < inputs.length; i++) {
                if (!inputs[i].requiresGrad()) continue;
                Tensor x = inputs[i];
                int n = (int) x.numel();
                int samples = Math.min(n, 12);
                for (int s = 0; s < samples; s++) {
                    int j = n <= 12 ? s : pick.nextInt(n);
                    float orig = x.getFlat(j);
                    x.setFlat(j, (float) (orig + eps));
                    double lp = lossOf(f, inputs, r, ws);
                    x.setFlat(j, (float) (orig - eps));
                    double lm = lossOf(f, inputs, r, ws);
                    x.setFlat(j, orig);
                    double numeric = (lp - lm) / (2 * eps);
                    double a = analytic[i][j];
                    if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) {
                        throw new AssertionError(name + ": d loss / d input" + i + "[" + j + "] analytic " + a + " vs numeric " + numeric);
                    }
                }
            }
        }
    }

    private static double lossOf(Fn f, Tensor[] inputs, Tensor r, Workspace ws) {
        Tape tape = Tape.training(ws);
        Tensor y = f.apply(tape, inputs);
        double l = 0;
        for (long i = 0; i < y.numel(); i++) l += (double) y.getFlat(i) * r.getFlat(i);
        tape.reset();
        return l;
    }
}
