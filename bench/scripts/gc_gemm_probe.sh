#!/usr/bin/env bash
# GEMM GFLOPS under each HotSpot collector, one JVM per collector, on a weight-shaped GEMM with B pre-packed (as in
# inference) and one packed per call. The launcher picks its collector from this: on Zen 5 the micro-kernel ran at
# 100-140 GFLOPS under Parallel and Serial and 165-180 under G1, ZGC, Shenandoah and Epsilon.
# Usage: bench/scripts/gc_gemm_probe.sh [threads=1] [shapes=P:1576x3072x768,1576x3072x768]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${1:-1}; shapes=${2:-P:1576x3072x768,1576x3072x768}
"$root/tessera" info >/dev/null
jdk=$("$root/tessera" jdk)
[ -f "$root/bench/target/benchmarks.jar" ] || (cd "$root" && ./mvnw -q -B -DskipTests package)
for gc in G1 Parallel Serial Z; do
  "$jdk/bin/java" --add-modules jdk.incubator.vector -XX:+Use${gc}GC -XX:-UseProfiledLoopPredicate \
    -cp "$root/bench/target/benchmarks.jar" dev.tessera.bench.GemmProbe "$threads" "$shapes" 2>/dev/null | sed "s/^{/{\"gc\":\"$gc\",/"
done
