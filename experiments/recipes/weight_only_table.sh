#!/usr/bin/env bash
# Issue 19's weight-only table: RTN, HQQ, AWQ(+RTN), GPTQ, GPTAQ and QuaRot rotation + GPTQ at W4/W3/W2
# on stories260K (groups of 32) and the default model brown-5m (groups of 128), both from YAML:
#   configs/sweeps/weight-only-stories260K.yaml, configs/sweeps/weight-only.yaml
# (sequential calibration on 128 random windows x 256 tokens, seed 0; perplexity and KL to the FP
# model on the same windows: stories260K llama.cpp protocol, first 128 windows; brown-5m GPTQ
# protocol, first 64 windows). Finished runs are reused (ptq run resumes).
# Usage: experiments/recipes/weight_only_table.sh   (prints one Markdown table)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
[ -f "$here/data/brown/eval.txt" ] || bash "$here/scripts/zoo/fetch_brown.sh" >&2
"$ptq" run "$here/configs/sweeps/weight-only-stories260K.yaml" >&2
"$ptq" run "$here/configs/sweeps/weight-only.yaml" >&2

python3 - "$here/runs/weight-only-stories260K/report/report.json" "$here/runs/weight-only/report/report.json" <<'PY'
import json, sys
models = [("stories260K", json.load(open(sys.argv[1]))), ("brown-5m", json.load(open(sys.argv[2])))]
def cells(report, method, bits):
    text = report["texts"][0]
    for r in report["rows"]:
        if method == "fp" and r["method"] == "fp":
            return f"{r['perplexity'][text]['ppl']:.4f} | - | -"
        if method != "fp" and r["method"] == method and r.get("bits") == bits:
            p, k = r["perplexity"][text], r["kl_divergence"][text]
            return f"{p['ppl']:.4f} | {p['delta']:+.4f} | {k['mean']:.5f} ± {k['stderr']:.5f}"
    return "not run | | "
methods = ["rtn", "hqq", "awq+rtn", "gptq", "gptaq", "rotate+gptq"]
print("| bits | method | " + " | ".join(f"{m} PPL | {m} ΔPPL | {m} KL to FP" for m, _ in models) + " |")
print("|---|---|" + "---:|---:|---:|" * len(models))
print("| 16 | fp | " + " | ".join(cells(r, "fp", None) for _, r in models) + " |")
for bits in (4, 3, 2):
    for m in methods:
        print(f"| W{bits} | {m} | " + " | ".join(cells(r, m, bits) for _, r in models) + " |")
PY
