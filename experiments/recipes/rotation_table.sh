#!/usr/bin/env bash
# QuaRot-style rotation (issue 19) against SmoothQuant and plain GPTQ, on three models:
#   stories260K (../shared/data; llama.cpp protocol, n_ctx 256, first 256 windows of tinystories_valid_eval),
#   the default model brown-5m (data/brown; llama.cpp protocol, n_ctx 256, first 64 windows),
#   brown-5m with 4 activation outlier channels x30 (`ptq convert --outlier-channels 4
#   --outlier-factor 30`: an exact reparametrisation, same FP function; first 64 windows).
# Settings: W4A4 + 4-bit KV cache, W4A8, (outlier model: W8A8), and weight-only W4 / W3. Weights are
# per-channel (group_size 0) asymmetric, activations per-token dynamic, KV per token and head.
# Methods: GPTQ alone ("naive"), SmoothQuant (alpha 0.5) + GPTQ, rotate (seed 0, online down_proj
# and per-head kv Hadamards) + GPTQ. Calibration: 128 random windows x 256 tokens, seed 0, one-shot.
# KL: mean KL divergence of the quantized model's next-token distribution to the FP model's.
# Usage: experiments/recipes/rotation_table.sh [OUT_DIR]   (prints Markdown tables)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/rotation_table}"
threads="${THREADS:-1}"
mkdir -p "$out"
[ -f "$here/data/brown/eval.txt" ] || bash "$here/scripts/zoo/fetch_brown.sh" >/dev/null

# model name -> model path, calibration text, evaluation text, windows (0: all)
declare -A M_PATH M_CALIB M_EVAL M_WIN
M_PATH[stories260K]="$data/models/stories260K.bin"
M_CALIB[stories260K]="$data/text/tinystories_valid_calib.txt"
M_EVAL[stories260K]="$data/text/tinystories_valid_eval.txt"
M_WIN[stories260K]=256
M_PATH[brown-5m]="$here/models/brown-5m"
M_CALIB[brown-5m]="$here/data/brown/calib.txt"
M_EVAL[brown-5m]="$here/data/brown/eval.txt"
M_WIN[brown-5m]=64
M_PATH[brown-5m-outliers]="$out/brown-5m-outliers"
M_CALIB[brown-5m-outliers]="$here/data/brown/calib.txt"
M_EVAL[brown-5m-outliers]="$here/data/brown/eval.txt"
M_WIN[brown-5m-outliers]=64
[ -f "$out/brown-5m-outliers/config.json" ] ||
  "$ptq" convert -m "$here/models/brown-5m" --outlier-channels 4 --outlier-factor 30 --out "$out/brown-5m-outliers" >/dev/null

# Evaluations are kept as <dir>.eval.json; a re-run reuses them (delete them to measure again).
evaluate() {  # name model_dir kv_bits -> "PPL ± se|KL ± se"
  local name="$1" dir="$2" kv="$3" json="$2.eval.json"
  [ -f "$json" ] || "$ptq" --threads "$threads" eval -m "$dir" --reference "${M_PATH[$name]}" --text "${M_EVAL[$name]}" \
    --seqlen 256 --protocol llamacpp --max-windows "${M_WIN[$name]}" --kv-bits "$kv" --json "$json" >/dev/null
  jq -r '.texts[0] | "\(.ppl) \(.ppl_stderr) \(.kl_divergence.mean_kl) \(.kl_divergence.kl_stderr)"' "$json" |
    awk '{printf "%.4f ± %.4f|%.5f ± %.5f\n", $1, $2, $3, $4}'
}

fp_row() {  # name
  local name="$1" json="$out/$1-fp.eval.json"
  [ -f "$json" ] || "$ptq" --threads "$threads" eval -m "${M_PATH[$name]}" --text "${M_EVAL[$name]}" --seqlen 256 \
    --protocol llamacpp --max-windows "${M_WIN[$name]}" --json "$json" >/dev/null
  echo "| $name | FP32 | - | $(jq -r '.texts[0] | "\(.ppl) \(.ppl_stderr)"' "$json" | awk '{printf "%.4f ± %.4f", $1, $2}') | - |"
}

row() {  # name setting method kv_bits [quantize flags...]
  local name="$1" setting="$2" method="$3" kv="$4"
  shift 4
  local dir="$out/$name-$(echo "$setting-$method" | tr ' +/' '__-')"
  local margs=()
  case "$method" in
    gptq) ;;
    smoothquant+gptq) margs=(--transform smoothquant --alpha 0.5) ;;
    rotate+gptq) margs=(--transform rotate --rotate-seed 0) ;;
  esac
  if [ ! -f "$dir/config.json" ]; then
    "$ptq" --threads "$threads" quantize -m "${M_PATH[$name]}" --algo gptq --group-size 0 "${margs[@]}" "$@" \
      --calib "${M_CALIB[$name]}" --n-samples 128 --seqlen 256 --seed 0 --one-shot --out "$dir" >"$dir.log" 2>&1
  fi
  IFS='|' read -r p k <<<"$(evaluate "$name" "$dir" "$kv")"
  echo "| $name | $setting | $method | $p | $k |"
}

echo "| model | setting | method | PPL (llama.cpp protocol) | KL to FP |"
echo "|---|---|---|---:|---:|"
for name in stories260K brown-5m; do
  fp_row "$name"
  for method in gptq smoothquant+gptq rotate+gptq; do row "$name" "W4A4 KV4" "$method" 4 --bits 4 --act-bits 4; done
  for method in gptq smoothquant+gptq rotate+gptq; do row "$name" "W4A8" "$method" 0 --bits 4 --act-bits 8; done
  for bits in 4 3; do
    for method in gptq rotate+gptq; do row "$name" "W$bits" "$method" 0 --bits "$bits"; done
  done
done
name=brown-5m-outliers
fp_row "$name"
for setting in "W8A8:8:8" "W4A8:4:8"; do
  IFS=: read -r label wb ab <<<"$setting"
  for method in gptq smoothquant+gptq rotate+gptq; do row "$name" "$label" "$method" 0 --bits "$wb" --act-bits "$ab"; done
done
