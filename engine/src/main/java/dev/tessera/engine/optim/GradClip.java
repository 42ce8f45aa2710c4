package dev.tessera.engine.optim;

import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.kernels.Parallel;
import dev.tessera.engine.nn.Parameter;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** Clipping by global norm: all gradients scaled together so their joint L2 norm is at most maxNorm. */
public final class GradClip {
    private GradClip() {}

    /** Returns the norm before clipping (NaN or Inf when a gradient is not finite; nothing is scaled then). */
    public static double clipGlobalNorm(List<Parameter> params, double maxNorm) {
        Kernels k = KernelProvider.get();
        // One task per parameter over the pool (each sum is serial and most are small), added up in a fixed order.
        double[] squares = new double[params.size()];
        MemorySegment[] grads = params.stream().map(p -> p.grad().segment()).toArray(MemorySegment[]::new);
        Parallel.forEach(params.size(), i -> {
            Parameter p = params.get(i);
            squares[i] = k.sumSquares(p.grad().segment(), p.grad().offset(), p.numel());
        }, grads);
        double sq = 0;
        for (double v : squares) sq += v;
        double norm = Math.sqrt(sq);
        if (Double.isFinite(norm) && norm > maxNorm) {
            float s = (float) (maxNorm / (norm + 1e-6));
            for (Parameter p : params) k.scale(s, p.grad().segment(), p.grad().offset(), p.grad().segment(), p.grad().offset(), p.numel());
        }
        return norm;
    }
}
