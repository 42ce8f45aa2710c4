#!/usr/bin/env python3
"""Writes the register-blocked GEMM micro-kernels (MR rows x 2 vectors) for the Vector API.

Java has no way to say "24 accumulators in registers" other than 24 local variables, so the kernels are generated
rather than hand-copied. A is read from a float[]: with MemorySegment.get for its scalars (a VarHandle chain that C1
inlines whole) C1 ran out of virtual registers on these methods; when that happened after a quick tier-2 compile, the
tiered policy never moved the method on to C2, and GEMM ran boxed in C1 code at 2 GFLOPS for the rest of the run. Run from the repository root: python3 bench/scripts/gen_microkernels.py
"""
import pathlib

OUT = pathlib.Path("engine/src/main/java/dev/tessera/engine/kernels/simd")

def emit_unrolled(w, mr, unroll):
    """compute()'s k loop unrolled `unroll` times, then single steps for the rest of kc. Unrolled twice, the 6-row
    kernel on AVX2 (12 accumulators, 2 B vectors and a broadcast in 16 ymm registers) ran 91-96 GFLOPS per core from
    L1 on Zen 3 where the plain loop ran 43: there C2 kept one accumulator on the stack, a store and a reload in every
    step's dependency chain, and the loop's bounds checks and index updates (as many instructions as the FMAs) came
    once per step. Unrolled 3 or 4 times it spilled again (42, 74 GFLOPS). computeRows is the other way round on the
    same CPU: plain 82 GFLOPS, unrolled twice 41; it stays plain, and an unrolled kernel asks for A packed
    (prefersRowsOfA false): one 1576x2304x768 product, one thread, 71.7 ms with packed A against 89.0 with rows.

    With 15 of 16 registers taken, C2's allocation of this loop was a coin toss decided by the profile it compiled
    from: in 5 of 9 JVMs running ViT-B/16 (the same code, the same inputs) it rotated accumulators through
    spare registers and the stack every step, and the whole forward took 980-1460 ms instead of 430-520 (one thread,
    batch 1). Two things took the toss away (then 14 JVMs in a row fast: 427-505 ms at one thread, 224-237 at two):
    the loop runs over B's byte offset with a stride that is not a constant, so it is no counted loop (nothing to
    unroll, strip-mine or predicate, fewer live integers), and an odd kc's last step is not in this method at all but
    added to the stored tile afterwards by oddStep, so no branch whose frequency varies sits next to the loop. (A remainder loop here once made the whole method half as fast:
    1576x2304x767 195 ms against 83; an inline `if` was still part of the toss.)"""
    def step(u):
        # k step p + u: B's row at pb + u * step, A's mr scalars from pa + u * mr.
        pb = "pb" if u == 0 else f"pb + {u} * step"
        w(f"            b0 = FloatVector.fromMemorySegment(S, bp, {pb}, NO);")
        w(f"            b1 = FloatVector.fromMemorySegment(S, bp, {pb} + VB, NO);")
        for i in range(mr):
            w(f"            x = FloatVector.broadcast(S, ap[pa + {u * mr + i}]);")
            w(f"            c{i}_0 = x.fma(b0, c{i}_0);")
            w(f"            c{i}_1 = x.fma(b1, c{i}_1);")
    assert unroll == 2
    w("        FloatVector b0, b1, x;")
    w("        long pairsEnd = pb + (long) (kc & ~1) * step, stride = U * step;")
    w("        while (pb < pairsEnd) {")
    for u in range(unroll):
        step(u)
    w(f"            pa += {mr} * U;")
    w("            pb += stride;")
    w("        }")

def emit_odd_step(w, mr):
    """C += a b for one k step, on a tile already stored: an odd kc's last step (see emit_unrolled)."""
    w("    /** One k step added to the tile compute stored: the last of an odd kc, kept out of compute's loop. */")
    w("    private static void oddStep(float[] ap, int pa, MemorySegment bp, long pb, MemorySegment c, long cb, long ld) {")
    w("        FloatVector b0 = FloatVector.fromMemorySegment(S, bp, pb, NO);")
    w("        FloatVector b1 = FloatVector.fromMemorySegment(S, bp, pb + VB, NO);")
    w("        FloatVector x;")
    for i in range(mr):
        w(f"        x = FloatVector.broadcast(S, ap[pa + {i}]);")
        w(f"        x.fma(b0, FloatVector.fromMemorySegment(S, c, cb + {i} * ld, NO)).intoMemorySegment(c, cb + {i} * ld, NO);")
        w(f"        x.fma(b1, FloatVector.fromMemorySegment(S, c, cb + {i} * ld + VB, NO)).intoMemorySegment(c, cb + {i} * ld + VB, NO);")
    w("    }")
    w("")

def emit_store(w, mr, acc):
    # Overwrite only: an accumulating (beta != 0) variant here made the method so large that C2 stopped
    # intrinsifying near its end and boxed every vector of that branch. The driver merges beta itself.
    w("        long cb = cOff * 4, ld = ldc * 4;")
    for i in range(mr):
        w(f"        c{i}_0.intoMemorySegment(c, cb + {i} * ld, NO); c{i}_1.intoMemorySegment(c, cb + {i} * ld + VB, NO);")

def rows_kernel(w, mr, acc):
    """computeRows: A as mr rows rs apart. There is no accumulating twin (accumulators loaded from C): with its 24
    extra loads C1 ran out of virtual registers on it, and in JVMs where it had been compiled at tier 2 first it then
    never reached C2. Later K blocks go through the tile buffer and merge instead, 1-3% slower and never boxed."""
    w("    @Override")
    w("    public void computeRows(int kc, float[] a, int aOff, int rs, MemorySegment bp, long bpOff, long bs,")
    w("                            MemorySegment c, long cOff, long ldc) {")
    w("        long pb = bpOff * 4, step = bs * 4;")
    for i in range(mr):
        w(f"        int a{i} = aOff + {i} * rs;")
    w("        FloatVector " + ", ".join(f"c{i}_{j} = FloatVector.zero(S)" for i, j in acc) + ";")
    w("        for (int p = 0; p < kc; p++) {")
    w("            FloatVector b0 = FloatVector.fromMemorySegment(S, bp, pb, NO);")
    w("            FloatVector b1 = FloatVector.fromMemorySegment(S, bp, pb + VB, NO);")
    w("            FloatVector x;")
    for i in range(mr):
        w(f"            x = FloatVector.broadcast(S, a[a{i} + p]);")
        w(f"            c{i}_0 = x.fma(b0, c{i}_0);")
        w(f"            c{i}_1 = x.fma(b1, c{i}_1);")
    w("            pb += step;")
    w("        }")
    emit_store(w, mr, acc)
    w("    }")
    w("")

def kernel(mr, unroll):
    cls = f"MicroKernel{mr}x2v"
    acc = [(i, j) for i in range(mr) for j in range(2)]
    L = []
    w = L.append
    w("package dev.tessera.engine.kernels.simd;")
    w("")
    w("import java.lang.foreign.MemorySegment;")
    w("import java.nio.ByteOrder;")
    w("import jdk.incubator.vector.FloatVector;")
    w("import jdk.incubator.vector.VectorSpecies;")
    w("")
    w("/**")
    w(f" * GEMM micro-kernel: a {mr} x (2 vectors) tile of C held in {2*mr} vector registers, plus 2 for B and 1 broadcast.")
    w(" * Generated by bench/scripts/gen_microkernels.py; edit the generator, not this file.")
    w(" */")
    w(f"final class {cls} extends SimdMicroKernel {{")
    w("    private static final VectorSpecies<Float> S = SimdSpecies.FLOAT;")
    w("    private static final int L = S.length();")
    w("    private static final long VB = L * 4L;")
    w(f"    private static final int MR = {mr};")
    if unroll > 1:
        w(f"    private static final int U = {unroll};")
    w("    private static final ByteOrder NO = ByteOrder.nativeOrder();")
    w("")
    w("    @Override public int mr() { return MR; }")
    w("")
    w(f"    @Override public boolean prefersRowsOfA() {{ return {'false' if unroll > 1 else 'true'}; }}")
    w("")
    w("    @Override")
    w("    public void compute(int kc, float[] ap, int apOff, MemorySegment bp, long bpOff, long bs,")
    w("                        MemorySegment c, long cOff, long ldc) {")
    w("        int pa = apOff;")
    w("        long pb = bpOff * 4, step = bs * 4;")
    w("        FloatVector " + ", ".join(f"c{i}_{j} = FloatVector.zero(S)" for i, j in acc) + ";")
    if unroll > 1:
        emit_unrolled(w, mr, unroll)
    else:
        w("        for (int p = 0; p < kc; p++) {")
        w("            FloatVector b0 = FloatVector.fromMemorySegment(S, bp, pb, NO);")
        w("            FloatVector b1 = FloatVector.fromMemorySegment(S, bp, pb + VB, NO);")
        w("            FloatVector a;")
        for i in range(mr):
            w(f"            a = FloatVector.broadcast(S, ap[pa + {i}]);")
            w(f"            c{i}_0 = a.fma(b0, c{i}_0);")
            w(f"            c{i}_1 = a.fma(b1, c{i}_1);")
        w(f"            pa += {mr};")
        w("            pb += step;")
        w("        }")
    emit_store(w, mr, acc)
    if unroll > 1:
        w("        if ((kc & 1) != 0) oddStep(ap, pa, bp, pb, c, cb, ld);")
    w("    }")
    w("")
    if unroll > 1:
        emit_odd_step(w, mr)
    rows_kernel(w, mr, acc)
    w("}")
    (OUT / f"{cls}.java").write_text("\n".join(L) + "\n")

# The 12-row kernel (AVX-512, 32 registers) ran 115 GFLOPS per core on Zen 4 with the plain loop and stays as it was.
for mr, unroll in ((12, 1), (6, 2)):
    kernel(mr, unroll)
