package dev.tessera.engine.autograd;

import dev.tessera.engine.kernels.KernelProvider;
import dev.tessera.engine.kernels.Kernels;
import dev.tessera.engine.tensor.Shapes;
import dev.tessera.engine.tensor.Tensor;
import dev.tessera.engine.tensor.TensorException;
import dev.tessera.engine.tensor.Workspace;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode autograd: each op appends its backward closure; {@link #backward} runs them in reverse. Outputs and
 * the gradients of intermediates live in the step's {@link Workspace}; {@link #reset} drops the closures and rewinds
 * the workspace, so a training loop allocates its memory in the first step only. A tape made with
 * {@link #inference} records nothing (no-grad mode).
 */
public final class Tape {
    private final Workspace ws;
    private final boolean recording;
    private final Kernels kernels;
    private final List<Runnable> backwards = new ArrayList<>();
    /** Gradient buffers that stand in for some tensors' own (a data-parallel worker's copy of the parameters'), or null. */
    private final Map<Tensor, Tensor> gradsOf;
    private boolean ran;

    private Tape(Workspace ws, boolean recording, Kernels kernels, Map<Tensor, Tensor> gradsOf) {
        this.ws = ws;
        this.recording = recording;
        this.kernels = kernels;
        this.gradsOf = gradsOf;
    }

    private Tape(Workspace ws, boolean recording, Kernels kernels) {
        this(ws, recording, kernels, null);
    }

    public static Tape training(Workspace ws) { return new Tape(ws, true, KernelProvider.get()); }

    /**
     * A training tape whose backward accumulates the gradients of the keys of {@code gradsOf} (compared by identity:
     * the parameters) into the mapped buffers instead of the tensors' own. Workers that run backward on different
     * parts of a batch at the same time each get their own buffers; the caller adds them up afterwards.
     */
    public static Tape training(Workspace ws, Map<Tensor, Tensor> gradsOf) {
        return new Tape(ws, true, KernelProvider.get(), java.util.Objects.requireNonNull(gradsOf, "gradsOf"));
    }

    public static Tape inference(Workspace ws) { return new Tape(ws, false, KernelProvider.get()); }

    /** A tape on explicit kernels (tests compare the scalar and SIMD paths this way). */
    public static Tape of(Workspace ws, boolean recording, Kernels kernels) { return new Tape(ws, recording, kernels); }

    public Workspace workspace() { return ws; }

    public Kernels kernels() { return kernels; }

    public boolean recording() { return recording; }

    /** Whether any input needs a gradient, so that the op must record. */
    public boolean needsGrad(Tensor... inputs) {
        if (!recording) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad()) return true;
        return false;
    }

    /** Records an op's backward; its output now requires a gradient, so later ops that use it record too. */
    public void record(Tensor output, Runnable backward) {
        output.requiresGrad(true);
        if (ran) throw new TensorException("tape already ran backward: reset() before recording the next step");
        backwards.add(backward);
    }

    /** The gradient buffer of t, created zero-filled on first use (in the workspace unless t already has one). */
    public Tensor grad(Tensor t) {
        Tensor g = redirected(t);
        if (g != null) return g;
        g = t.grad();
        if (g == null) {
            g = ws.zeros(t.shape());
            t.setGrad(g);
        }
        return g;
    }

    /**
     * t's gradient buffer for an op that covers all of it: when t has none yet, a new one left unfilled, which the op
     * must write rather than add to (a GEMM with beta 0 then stores its tiles instead of reading zeros back from memory
     * and merging); otherwise the existing buffer, to add to. The op tells the two apart by {@code t.grad() == null}
     * before the call.
     */
    public Tensor gradToWrite(Tensor t) {
        Tensor r = redirected(t);
        if (r != null) return r;
        if (t.grad() != null) return t.grad();
        Tensor g = ws.allocate(t.shape());
        t.setGrad(g);
        return g;
    }

    /**
     * Hands a finished gradient to t when t has none yet (the residual stream of a pre-LN block passes its gradient
     * through unchanged): no copy, no zeroed buffer. Only for a gradient no backward reads again, such as an output's
     * once its own op has run. Returns false when t already has a gradient, which the caller then adds to.
     */
    public boolean passGrad(Tensor t, Tensor g) {
        if (t.grad() != null || redirected(t) != null) return false;
        Shapes.requireSame("gradient of " + Shapes.str(t.shape()), t.shape(), g.shape());
        t.setGrad(g);
        return true;
    }

    private Tensor redirected(Tensor t) {
        return gradsOf == null ? null : gradsOf.get(t);
    }

    /** Runs the recorded backwards from a scalar loss (its gradient seeded with 1). */
    public void backward(Tensor loss) {
        if (!recording) throw new TensorException("backward on an inference tape: nothing was recorded");
        if (loss.numel() != 1) throw new TensorException("backward needs a scalar loss, got " + Shapes.str(loss.shape()));
        grad(loss).fill(1f);
        for (int i = backwards.size() - 1; i >= 0; i--) backwards.get(i).run();
        ran = true;
    }

    public int size() { return backwards.size(); }

    /** Drops the recorded step and rewinds the workspace: every intermediate of that step is now invalid. */
    public void reset() {
        backwards.clear();
        ran = false;
        ws.reset();
    }
}
