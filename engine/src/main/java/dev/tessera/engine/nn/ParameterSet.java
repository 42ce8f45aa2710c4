package dev.tessera.engine.nn;

import dev.tessera.engine.tensor.OffHeap;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Owns a model's parameters and their gradients in one arena, in creation order, by unique name. Initialisers are
 * seeded so that a model is reproducible from its seed.
 *
 * <p>A set built over {@link ExternalWeights} allocates nothing for its parameters: every initialiser returns the
 * external tensor of that name instead (a view into a mapped checkpoint, say), frozen, without a gradient. Closing the
 * set then closes the weights too.
 */
public final class ParameterSet implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Map<String, Parameter> byName = new LinkedHashMap<>();
    private final SplittableRandom rng;
    private final ExternalWeights external;

    public ParameterSet(long seed) {
        this.rng = new SplittableRandom(seed);
        this.external = null;
    }

    /** Parameters taken from {@code weights}; this set owns and closes them. */
    public ParameterSet(ExternalWeights weights) {
        this.rng = new SplittableRandom(0);
        this.external = java.util.Objects.requireNonNull(weights, "weights");
    }

    /** Whether the parameters are external (frozen views) rather than owned and trainable. */
    public boolean isExternal() { return external != null; }

    /**
     * A Linear layer's weight: (in, out) when owned; when external, in whatever layout the weights keep, which
     * {@link #storedOutIn} tells.
     */
    public Parameter linearWeight(String name, int in, int out) {
        if (external == null) return xavierUniform(name, in, out);
        return adopt(name, true, external.storedOutIn(name) ? new int[] {out, in} : new int[] {in, out});
    }

    /** True when the named (linear) weight is stored (out, in), PyTorch's nn.Linear layout. */
    public boolean storedOutIn(String name) {
        return external != null && external.storedOutIn(name);
    }

    private Parameter adopt(String name, boolean decay, int... shape) {
        if (byName.containsKey(name)) throw new TensorException("parameter '" + name + "' defined twice");
        Tensor v = external.tensor(name, shape);
        if (!java.util.Arrays.equals(v.shape(), shape)) {
            throw new TensorException("weight '" + name + "': expected shape " + dev.tessera.engine.tensor.Shapes.str(shape) + ", found " + v.shapeString());
        }
        Parameter p = new Parameter(name, v.named(name), decay);
        byName.put(name, p);
        return p;
    }

    public Arena arena() { return arena; }

    /** A new zero parameter (and zero gradient) of shape. */
    public Parameter create(String name, boolean decay, int... shape) {
        if (external != null) return adopt(name, decay, shape);
        if (byName.containsKey(name)) throw new TensorException("parameter '" + name + "' defined twice");
        Tensor v = Tensor.zeros(arena, shape).named(name).requiresGrad(true);
        v.setGrad(Tensor.zeros(arena, shape).named(name + ".grad"));
        Parameter p = new Parameter(name, v, decay);
        byName.put(name, p);
        return p;
    }

    /** Normal(0, std) truncated at +-2 std (timm's trunc_normal_ with a=-2std, b=2std). */
    public Parameter truncNormal(String name, boolean decay, float std, int... shape) {
        if (external != null) return adopt(name, decay, shape);
        Parameter p = create(name, decay, shape);
        Tensor t = p.value();
        for (long i = 0, n = t.numel(); i < n; i++) {
            double z;
            do {
                z = gaussian();
            } while (Math.abs(z) > 2);
            t.setFlat(i, (float) (z * std));
        }
        return p;
    }

    /** Xavier/Glorot uniform for a (fanIn, fanOut) weight. */
    public Parameter xavierUniform(String name, int fanIn, int fanOut) {
        if (external != null) return adopt(name, true, fanIn, fanOut);
        Parameter p = create(name, true, fanIn, fanOut);
        double a = Math.sqrt(6.0 / (fanIn + fanOut));
        Tensor t = p.value();
        for (long i = 0, n = t.numel(); i < n; i++) t.setFlat(i, (float) ((rng.nextDouble() * 2 - 1) * a));
        return p;
    }

    public Parameter constant(String name, boolean decay, float value, int... shape) {
        if (external != null) return adopt(name, decay, shape);
        Parameter p = create(name, decay, shape);
        p.value().fill(value);
        return p;
    }

    private double gaussian() {
        double u1 = rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(Math.max(u1, 1e-300))) * Math.cos(2 * Math.PI * u2);
    }

    public List<Parameter> all() { return Collections.unmodifiableList(new ArrayList<>(byName.values())); }

    public Parameter get(String name) {
        Parameter p = byName.get(name);
        if (p == null) throw new TensorException("no parameter named '" + name + "'");
        return p;
    }

    public long count() {
        long n = 0;
        for (Parameter p : byName.values()) n += p.numel();
        return n;
    }

    public void zeroGrad() {
        for (Parameter p : byName.values()) if (p.grad() != null) p.grad().fill(0f);
    }

    /** Memory for optimizer state shaped like each parameter, zeroed, from this set's arena. */
    public MemorySegment stateFor(Parameter p) {
        return OffHeap.allocateFloats(arena, p.numel());
    }

    @Override
    public void close() {
        arena.close();
        if (external != null) external.close();
    }
}
