#!/usr/bin/env bash
# Issue 19 (HQQ): RTN vs HQQ (real zero points, as the reference) vs HQQ with integer zero points vs
# GPTQ at W4/W3/W2, groups of 64 and per channel (asymmetric), on two models:
#   stories260K  llama.cpp protocol: perplexity of tinystories_valid_eval.txt, n_ctx 256, first 64 windows;
#                GPTQ calibrated as stories260k_rtn_gptq.sh (128 random windows x 256 of the calib
#                text, seed 0, sequential)
#   brown-5m     GPTQ protocol as configs/quickstart.yaml: Brown eval.txt, first 64 windows of 256;
#                GPTQ calibrated one-shot on 32 windows x 256 of Brown calib.txt, seed 0
# KL divergence to the FP model on the same windows (ptq eval --reference). "quant s" is ptq
# quantize's wall time (calibration included), "algo s" the sum of the per-layer algorithm times.
# Finished runs (their eval JSON present) are not redone.
# Usage: experiments/recipes/hqq_table.sh [OUT_DIR]   (prints one Markdown table per model)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/hqq_table}"
threads="${THREADS:-1}"
mkdir -p "$out"
[ -f "$here/data/brown/eval.txt" ] || bash "$here/scripts/zoo/fetch_brown.sh" >&2

row() {  # label method quantized_dir eval_json fp_ppl
  python3 - "$@" <<'EOF'
import json, sys, os
label, method, qdir, ej, fp = sys.argv[1:6]
t = json.load(open(ej))["texts"][0]
k = t["kl_divergence"]
rep = json.load(open(os.path.join(qdir, "quant_report.json")))
algo = sum(r["seconds"] for r in rep["layers"])
print(f"| {label} | {method} | {t['ppl']:.4f} ± {t['ppl_stderr']:.4f} | {t['ppl'] - float(fp):+.4f} | "
      f"{k['mean_kl']:.5f} ± {k['kl_stderr']:.5f} | {rep['seconds']:.2f} | {algo:.2f} |")
EOF
}

table() {  # name model evaltext protocol max_windows calib n_samples calib_mode
  local name=$1 model=$2 evaltext=$3 protocol=$4 maxw=$5 calib=$6 nsamp=$7 mode=$8
  local dir="$out/$name" evalargs=(--text "$evaltext" --seqlen 256 --protocol "$protocol" --max-windows "$maxw")
  mkdir -p "$dir"
  [ -f "$dir/fp.json" ] || "$ptq" --threads "$threads" eval -m "$model" "${evalargs[@]}" --json "$dir/fp.json" >/dev/null
  local fp
  fp=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['texts'][0]; print(t['ppl'])" "$dir/fp.json")
  echo
  echo "### $name ($protocol protocol, seqlen 256, max windows $maxw)"
  echo
  echo "| setting | method | PPL | ΔPPL | KL to FP | quant s | algo s |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['texts'][0]; print(f\"| FP32 | - | {t['ppl']:.4f} ± {t['ppl_stderr']:.4f} | - | - | - | - |\")" "$dir/fp.json"
  for setting in "4 64" "4 0" "3 64" "3 0" "2 64" "2 0"; do
    read -r bits gs <<<"$setting"
    local label="W${bits} $([ "$gs" = 0 ] && echo per-channel || echo "g$gs")"
    for method in rtn hqq hqq-int gptq; do
      local q="$dir/w${bits}g${gs}-$method" args=(--algo rtn)
      case $method in
        hqq) args=(--algo hqq) ;;
        hqq-int) args=(--algo hqq --hqq-integer-zero) ;;
        gptq) args=(--algo gptq --calib "$calib" --n-samples "$nsamp" --seqlen 256 --seed 0)
              [ "$mode" = one-shot ] && args+=(--one-shot) ;;
      esac
      if [ ! -f "$q.json" ]; then
        "$ptq" --threads "$threads" quantize -m "$model" --bits "$bits" --group-size "$gs" "${args[@]}" --out "$q" >"$q.log" 2>&1
        "$ptq" --threads "$threads" eval -m "$q" "${evalargs[@]}" --reference "$model" --json "$q.json" >/dev/null
      fi
      row "$label" "$method" "$q" "$q.json" "$fp"
    done
  done
}

table stories260K "$data/models/stories260K.bin" "$data/text/tinystories_valid_eval.txt" llamacpp 64 \
  "$data/text/tinystories_valid_calib.txt" 128 sequential
table brown-5m "$here/models/brown-5m" "$here/data/brown/eval.txt" gptq 64 "$here/data/brown/calib.txt" 32 one-shot
