#!/usr/bin/env bash
# Renders a bench report in headless Chromium (Debian's chromium), saves a full-page screenshot beside it and checks
# that the rendered DOM has every chart with marks in it: the report bar of the benchmark-suite issue.
# Usage: bench/scripts/check_report.sh RUN_DIR
set -euo pipefail
run=${1:?usage: check_report.sh RUN_DIR}
html=$(cd "$run" && pwd)/report.html
[ -f "$html" ] || { echo "check_report: $html does not exist (tessera bench report $run)" >&2; exit 1; }
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$chrome" ] || { echo "check_report: no chromium (apt-get install chromium)" >&2; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars)
"$chrome" "${flags[@]}" --window-size=1200,3000 --screenshot="$run/report.png" "file://$html" >/dev/null 2>&1
dom=$("$chrome" "${flags[@]}" --dump-dom "file://$html" 2>/dev/null)
charts=$(grep -o '<svg' <<<"$dom" | wc -l)
empty=$(python3 - "$dom" <<'PY'
import re, sys
dom = sys.argv[1]
print(sum(1 for s in re.findall(r"<svg.*?</svg>", dom, re.S) if 'class="point"' not in s and 'class="bar"' not in s))
PY
)
echo "check_report: $charts charts rendered, $empty empty; screenshot $run/report.png"
[ "$charts" -ge 3 ] && [ "$empty" -eq 0 ]
