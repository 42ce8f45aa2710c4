#!/usr/bin/env bash
# Tessera against ONNX Runtime Java 1.22 on the same ViT-B/16 weights, in one run: logits agreement with torchvision
# and img/s at each thread count, each engine in its own JVM. Peak RSS of each JVM is printed too.
# Needs Debian's python3-torch, python3-torchvision, python3-onnx (the model is made once by make_vit_fixtures.py).
# Usage: [ENGINES="ort tessera"] bench/peers/ort_peer.sh [threads=1,2] [batches=1,8] [dir=/tmp/tessera-b16]
# ENGINES=both [ROUNDS=8]: both engines in one JVM, timed in alternating rounds (each round's ratio and their median;
# the peak RSS is then of the two together). It flatters Tessera once its weights are in huge pages: ORT slowed down
# beside them (see OrtPeer.java); separate JVMs give the verdict.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${1:-1,2}; batches=${2:-1,8}; dir=${3:-/tmp/tessera-b16}
ver=1.22.0
ort=$HOME/.m2/repository/com/microsoft/onnxruntime/onnxruntime/$ver/onnxruntime-$ver.jar
[ -f "$ort" ] || (cd "$root" && ./mvnw -q dependency:get -Dartifact=com.microsoft.onnxruntime:onnxruntime:$ver >&2)
mkdir -p "$dir"
[ -f "$dir/vit_b_16.onnx" ] || /usr/bin/python3 "$root/bench/scripts/make_vit_fixtures.py" b16 "$dir" --onnx >&2 2>/dev/null
"$root/tessera" info >/dev/null   # builds the jar when needed
jdk=$("$root/tessera" jdk)
for t in ${threads//,/ }; do
  for engine in ${ENGINES:-ort tessera}; do
    model="$dir/vit_b_16.safetensors"; [ "$engine" = ort ] && model="$dir/vit_b_16.onnx"
    extra=(); [ "$engine" = both ] && extra=("$dir/vit_b_16.onnx" "${ROUNDS:-8}")
    /usr/bin/time -f "{\"engine\": \"$engine\", \"threads\": $t, \"peak_rss_mb\": %M}" -o /tmp/ort_peer_rss.$$ \
      "$jdk/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseG1GC -Xmx1g ${PEER_JIT_FLAGS--XX:-UseProfiledLoopPredicate} \
      -cp "$root/vit/target/tessera.jar:$ort" "$root/bench/peers/OrtPeer.java" "$engine" "$model" "$dir/vit_b_16_io.safetensors" "$t" "$batches" "${extra[@]}" 2>/dev/null
    sed 's/"peak_rss_mb": \([0-9]*\)/"peak_rss_mb": \1/' /tmp/ort_peer_rss.$$ | awk -F'"peak_rss_mb": ' '{split($2,a,"}"); printf "%s\"peak_rss_mb\": %.0f}\n", $1, a[1]/1024}'
  done
done
rm -f /tmp/ort_peer_rss.$$
