#!/usr/bin/env bash
# Issue 5's acceptance on the default model: configs/sweeps/rtn-gptq.yaml ({rtn, gptq} x {4, 3} bits x
# {g128, per-channel}, one calibration) run twice from empty caches: A uninterrupted; B killed (whole
# process group, SIGKILL) once KILL_AFTER runs are finished, then run again. Prints A's report and
# whether B's final report equals A's (every field but quantization time, peak memory and
# stats_reused, which differ by construction between an interrupted and an uninterrupted run).
# Usage: experiments/recipes/default_model_sweep_resume.sh [OUT_DIR]   (needs data/brown: make brown)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
out="${1:-$here/runs/sweep-resume}"
kill_after="${KILL_AFTER:-4}"
config="$here/configs/sweeps/rtn-gptq.yaml"
rm -rf "$out" && mkdir -p "$out"
finished() { ls "$1"/runs/*/metrics.json 2>/dev/null | wc -l; }

echo "== A: uninterrupted"
start=$(date +%s)
PTQ_CACHE_DIR="$out/cache-a" "$ptq" run "$config" -o output="$out/a" >"$out/a.log" 2>&1
echo "A took $(( $(date +%s) - start )) s"
grep -E "^calibration:|^run .*(done|finished earlier)" "$out/a.log" | sed 's/^/  /'

echo "== B: killed after $kill_after finished runs, then re-run"
setsid env PTQ_CACHE_DIR="$out/cache-b" "$ptq" run "$config" -o output="$out/b" >"$out/b1.log" 2>&1 &
pid=$!
until [ "$(finished "$out/b/rtn-gptq")" -ge "$kill_after" ]; do sleep 0.2; done
kill -KILL -- -"$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "killed with $(finished "$out/b/rtn-gptq") of 9 runs finished"
PTQ_CACHE_DIR="$out/cache-b" "$ptq" run "$config" -o output="$out/b" >"$out/b2.log" 2>&1
grep -E "^calibration:|^run .*(done|finished earlier)" "$out/b2.log" | sed 's/^/  /'

node -e '
const fs = require("fs");
const strip = f => { const t = JSON.parse(fs.readFileSync(f));
  for (const r of t.rows) { delete r.quantize_seconds; delete r.peak_rss_mb; delete r.stats_reused; }
  return JSON.stringify(t); };
const [a, b] = process.argv.slice(1).map(strip);
console.log(a === b ? "final report of B equals A (" + JSON.parse(a).rows.length + " rows)" : "REPORTS DIFFER");
process.exit(a === b ? 0 : 1);' "$out/a/rtn-gptq/report/report.json" "$out/b/rtn-gptq/report/report.json"
cat "$out/a/rtn-gptq/report/report.md"
