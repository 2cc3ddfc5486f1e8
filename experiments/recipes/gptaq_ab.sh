#!/usr/bin/env bash
# GPTQ vs GPTAQ (issue 19), A/B over calibration seeds 0, 1, 2 on both models:
#   default model models/brown-5m: W4/W3/W2 g128 and W3 per channel; calibration data/brown/calib.txt,
#     PPL and KL to FP under the GPTQ protocol on data/brown/eval.txt (first 64 windows of 256);
#   stories260K: W4/W3/W2 g32 and W3 per channel; calibration tinystories_valid_calib.txt, PPL and KL
#     under llama.cpp's protocol on tinystories_valid_eval.txt (n_ctx 256, first 128 of its 757 windows).
# Both algorithms: asymmetric grid, no act-order, damping 0.01, blocks of 128, 128 windows x 256 tokens
# (N_BROWN=32 N_STORIES=32 in the results: the shared machine made 128 too slow),
# sequential + true-sequential calibration; GPTAQ with its default alpha 0.25 (ALPHA=... to change).
# RTN rows (data-free, one run) for scale. Runs are kept in OUT_DIR and skipped when their JSON exists.
# Usage: experiments/recipes/gptaq_ab.sh [OUT_DIR]   (prints the Markdown tables; TABLE=0 only runs)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/gptaq_ab}"
threads="${THREADS:-1}"
alpha="${ALPHA:-0.25}"
seeds="${SEEDS:-0 1 2}"
n_brown="${N_BROWN:-128}"      # calibration windows per model (the results used 32 on both: see there)
n_stories="${N_STORIES:-128}"
mkdir -p "$out"
[ -f "$here/data/brown/eval.txt" ] || bash "$here/scripts/zoo/fetch_brown.sh" >&2

run_model() {  # name model calib evaltext protocol max_windows n_samples "settings..."
  local name=$1 model=$2 calib=$3 evaltext=$4 protocol=$5 maxw=$6 nsamples=$7 settings=$8
  local evalargs=(--text "$evaltext" --seqlen 256 --protocol "$protocol" --reference "$model")
  [ "$maxw" != 0 ] && evalargs+=(--max-windows "$maxw")
  [ -f "$out/$name-fp.json" ] || "$ptq" --threads "$threads" eval -m "$model" --text "$evaltext" --seqlen 256 --protocol "$protocol" \
    $([ "$maxw" != 0 ] && echo --max-windows "$maxw") --json "$out/$name-fp.json" >/dev/null
  for setting in $settings; do
    IFS=: read -r bits gs <<<"$setting"
    local dir="$out/$name-w${bits}g${gs}-rtn"
    if [ ! -f "$dir.json" ]; then
      "$ptq" --threads "$threads" quantize -m "$model" --algo rtn --bits "$bits" --group-size "$gs" --out "$dir" >"$dir.log" 2>&1
      "$ptq" --threads "$threads" eval -m "$dir" "${evalargs[@]}" --json "$dir.json" >/dev/null
    fi
    for algo in gptq gptaq; do
      for seed in $seeds; do
        dir="$out/$name-w${bits}g${gs}-$algo-s$seed"
        [ -f "$dir.json" ] && continue
        local extra=()
        [ "$algo" = gptaq ] && extra=(--gptaq-alpha "$alpha")
        "$ptq" --threads "$threads" quantize -m "$model" --algo "$algo" "${extra[@]}" --bits "$bits" --group-size "$gs" \
          --calib "$calib" --n-samples "$nsamples" --seqlen 256 --seed "$seed" --out "$dir" >"$dir.log" 2>&1
        "$ptq" --threads "$threads" eval -m "$dir" "${evalargs[@]}" --json "$dir.json" >/dev/null
        rm -rf "$dir"  # the JSON and the log are what the table needs
      done
    done
  done
}

models="${MODELS:-brown stories}"  # MODELS=brown / MODELS=stories runs one (two processes can share OUT_DIR)
[[ " $models " == *" brown "* ]] && run_model brown "$here/models/brown-5m" "$here/data/brown/calib.txt" "$here/data/brown/eval.txt" \
  gptq 64 "$n_brown" "3:128 2:128 4:128 3:0"
[[ " $models " == *" stories "* ]] && run_model stories "$data/models/stories260K.bin" "$data/text/tinystories_valid_calib.txt" \
  "$data/text/tinystories_valid_eval.txt" llamacpp 128 "$n_stories" "3:32 2:32 4:32 3:0"
[ "${TABLE:-1}" = 1 ] || exit 0

python3 - "$out" "$seeds" <<'PY'
import json, os, statistics, sys
out, seeds = sys.argv[1], sys.argv[2].split()
def load(p):
    t = json.load(open(p))["texts"][0]
    return t["ppl"], t.get("kl_divergence", {}).get("mean_kl")
def ms(v, d=4):
    if len(v) == 1: return f"{v[0]:.{d}f}"
    return f"{statistics.mean(v):.{d}f} ± {statistics.stdev(v):.{d}f}"
for name, title, settings in [("brown", "default model brown-5m (GPTQ protocol, 64 windows of 256)", ["4:128", "3:128", "2:128", "3:0"]),
                              ("stories", "stories260K (llama.cpp protocol, n_ctx 256, first 128 windows)", ["4:32", "3:32", "2:32", "3:0"])]:
    fp = load(f"{out}/{name}-fp.json")[0]
    print(f"\n### {title}: FP PPL {fp:.4f}\n")
    print("| setting | method | PPL (mean ± sd over seeds) | KL to FP (mean ± sd) | ΔPPL GPTAQ−GPTQ per seed | ΔKL GPTAQ−GPTQ per seed | GPTAQ better (PPL / KL) |")
    print("|---|---|---:|---:|---|---|---|")
    for s in settings:
        bits, gs = s.split(":")
        label = f"W{bits} " + ("per-channel" if gs == "0" else f"g{gs}")
        files = [f"{out}/{name}-w{bits}g{gs}-{a}-s{sd}.json" for a in ("gptq", "gptaq") for sd in seeds]
        if not all(os.path.exists(f) for f in files):
            print(f"| {label} | not run | | | | | |")
            continue
        r = load(f"{out}/{name}-w{bits}g{gs}-rtn.json")
        print(f"| {label} | rtn | {r[0]:.4f} | {r[1]:.5f} | | | |")
        res = {a: [load(f"{out}/{name}-w{bits}g{gs}-{a}-s{sd}.json") for sd in seeds] for a in ("gptq", "gptaq")}
        dp = [b[0] - a[0] for a, b in zip(res["gptq"], res["gptaq"])]
        dk = [b[1] - a[1] for a, b in zip(res["gptq"], res["gptaq"])]
        for a in ("gptq", "gptaq"):
            p = [x[0] for x in res[a]]; k = [x[1] for x in res[a]]
            extra = "| | | |" if a == "gptq" else (f"| {', '.join(f'{d:+.4f}' for d in dp)} | {', '.join(f'{d:+.5f}' for d in dk)} | "
                                                    f"{sum(d < 0 for d in dp)}/{len(dp)} / {sum(d < 0 for d in dk)}/{len(dk)} |")
            print(f"| {label} | {a} | {ms(p)} | {ms(k, 5)} {extra}")
PY
