/**
 * The Vector API kernels, loaded only when {@code jdk.incubator.vector} is readable (see KernelProvider).
 *
 * <p>Rules this package keeps, each learned from a measured failure on HotSpot 25:
 * <ul>
 *   <li>No method of ours takes or returns a vector (VectorBoundaryTest checks it). C2 inlines our methods only while a
 *       compilation is under its node budget (NodeCountInliningCutoff), and only JDK code may use {@code @ForceInline};
 *       a vector crossing a call that C2 declined is boxed. Helpers like exp(FloatVector) made a training step
 *       allocate 0.2 to 3.3 GB, different from run to run. Math that several kernels need is a loop over memory
 *       (SimdMath.expShift); lane sums spill to a caller-owned float[].</li>
 *   <li>Methods stay small enough for C1. C1 inlines the Vector API whole and, on methods of ~900 bytecodes and up, ran
 *       out of virtual registers. If that happens after a quick tier-2 compile, the tiered policy never moves the
 *       method on to C2 and it runs boxed in C1 code for good (GEMM at 2 GFLOPS). Scalar reads through
 *       MemorySegment.get cost C1 the most; the GEMM micro-kernels read A from a float[] for that reason. A
 *       micro-kernel that loaded its 24 accumulators from C (1,696 bytecodes) was refused at tier 3 and left every K
 *       block after the first boxed in some JVMs, so there is none. KernelAllocationTest has C1 compile every kernel
 *       at tier 3 and fails if any method of ours is refused.</li>
 *   <li>A loop-carried vector is never the receiver: {@code acc = x.add(acc)}, not {@code acc = acc.add(x)}. At the
 *       loop head C2 knows the accumulator only as FloatVector, so {@code acc.add} is a virtual call that it inlines
 *       only on the strength of a type profile; a method compiled at tier 2 (no profiling) and then at tier 4 had
 *       none, and every iteration boxed (fused attention: 160 MB per call in one JVM run of six). A freshly loaded
 *       or computed vector has an exact class. KernelAllocationTest runs every kernel in a JVM without type
 *       profiles to keep it so.</li>
 *   <li>No asSlice() in hot code: C2 did not scalar-replace the slice.</li>
 *   <li>No heap MemorySegment anywhere, not even through the Vector API: its interpreted reinterpret (and so
 *       reinterpretAsFloats) wraps a byte[] in one. The first heap segment broke C2's class-hierarchy assumption that
 *       every segment is native, ~40 compiled kernel methods were discarded and recompiled with type guards, and
 *       per-call-packed GEMMs fell from 181 to 140 GFLOPS. Bits move between lane types through memory instead
 *       (SimdMath.expShift). KernelAllocationTest logs class loading and fails on a heap segment.</li>
 * </ul>
 * To look: {@code -XX:+PrintCompilation} (COMPILE SKIPPED and "made not entrant" lines), JFR's
 * jdk.ObjectAllocationSample, {@code -Xlog:dependencies=debug} (which class load discarded compiled code), and
 * {@code -XX:+UnlockDiagnosticVMOptions -XX:CompileCommand=PrintInlining,CLASS::METHOD}.
 */
package dev.tessera.engine.kernels.simd;
