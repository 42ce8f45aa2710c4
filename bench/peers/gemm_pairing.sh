#!/usr/bin/env bash
# Tessera's GemmProbe and OpenBLAS (../shared/peers/sgemm_openblas.py, through numpy) in alternating rounds, best
# of the rounds per shape and thread count, and their ratio. On a shared VM whose speed swings 20-40% over minutes,
# one pass of each, minutes apart, compared the machine's moods as much as the two GEMMs; alternating rounds give
# both the same moods. Needs Debian's python3-numpy and libopenblas0-pthread.
# Usage: bench/peers/gemm_pairing.sh [rounds=3] [threads=1,2] [peer=../shared/peers/sgemm_openblas.py]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}; threads=${2:-1,2}; peer=${3:-$root/../shared/peers/sgemm_openblas.py}
[ -f "$peer" ] || { echo "no OpenBLAS peer script at $peer" >&2; exit 1; }
"$root/tessera" info >/dev/null   # builds the jars when needed
jdk=$("$root/tessera" jdk)
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  "$jdk/bin/java" --add-modules jdk.incubator.vector -XX:+UseG1GC -XX:-UseProfiledLoopPredicate \
    -cp "$root/bench/target/benchmarks.jar" dev.tessera.bench.GemmProbe "$threads" 2>/dev/null | grep '"gflops"' >> "$out"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$peer" --threads "$threads" | grep '"gflops"' >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    who = "openblas" if "peer" in o else "tessera"
    key = (o["shape"], int(o["threads"]))
    best.setdefault(key, {}).setdefault(who, []).append(o["gflops"])
print("%-16s %3s %26s %26s %6s" % ("shape", "T", "tessera GFLOPS (rounds)", "openblas GFLOPS (rounds)", "ratio"))
for (shape, t), v in best.items():
    ts, os_ = v.get("tessera", [0]), v.get("openblas", [0])
    print("%-16s %3d %8.1f (%-15s) %8.1f (%-15s) %6.2f" % (shape, t, max(ts), "/".join("%.0f" % x for x in ts),
          max(os_), "/".join("%.0f" % x for x in os_), max(ts) / max(os_) if max(os_) else float("nan")))
PY
