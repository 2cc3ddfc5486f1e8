#!/usr/bin/env bash
# Issue 19 part 5: AWQ's stories260K rows (W4/W3, per channel and g32; AWQ and AWQ+GPTQ) with the
# clip search's tokens spread over every window position, and the default model's AWQ W4/W3 g128
# rows in the quickstart's setting (32 x 256 calibration tokens of Brown, 64 evaluation windows,
# GPTQ protocol). stories260K: 128 random windows x 256 tokens of tinystories_valid_calib.txt (seed
# 0); perplexity on tinystories_valid_eval.txt, llama.cpp protocol, n_ctx 256; 1 thread.
# SEEDS="0 1 2" repeats the AWQ rows over calibration seeds (the noise of a row); AWQ_FLAGS adds
# options to every AWQ run (e.g. "--awq-token-loss --awq-search-tokens 0" for the reference's search).
# SKIP_GPTQ=1 leaves out the AWQ+GPTQ rows, SKIP_BROWN=1 the default model's.
# Usage: experiments/recipes/stories260k_awq_w4.sh [OUT_DIR]   (prints a Markdown table)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/stories260k_awq_w4}"
mkdir -p "$out"
model="$data/models/stories260K.bin"
seeds=(${SEEDS:-0})
read -r -a awq_flags <<<"${AWQ_FLAGS:-}"
calib=(--calib "$data/text/tinystories_valid_calib.txt" --n-samples 128 --seqlen 256)

ppl() {  # model protocol evaltext [eval flags...]
  local m="$1" proto="$2" text="$3"
  shift 3
  "$ptq" --threads 1 eval -m "$m" --text "$text" --seqlen 256 --protocol "$proto" "$@" | tail -1 | awk '{print $6 " ± " $7}'
}
quant() {  # dir args...
  local dir="$1"
  shift
  "$ptq" --threads 1 quantize "$@" --out "$dir" >"$dir.log" 2>&1
}

echo "| model | setting | method | seed | PPL |"
echo "|---|---|---|---|---|"
ev="$data/text/tinystories_valid_eval.txt"
echo "| stories260K | FP32 | - | - | $(ppl "$model" llamacpp "$ev") |"
for setting in "4 0" "3 0" "4 32" "3 32"; do
  read -r bits gs <<<"$setting"
  label="W${bits} $([ "$gs" = 0 ] && echo per-channel || echo "g$gs")"
  quant "$out/w${bits}g${gs}-rtn" -m "$model" --algo rtn --bits "$bits" --group-size "$gs"
  echo "| stories260K | $label | rtn | - | $(ppl "$out/w${bits}g${gs}-rtn" llamacpp "$ev") |"
  for seed in "${seeds[@]}"; do
    d="$out/w${bits}g${gs}-s$seed"
    quant "$d-awq" -m "$model" --algo awq --bits "$bits" --group-size "$gs" "${calib[@]}" --seed "$seed" "${awq_flags[@]}"
    echo "| stories260K | $label | awq | $seed | $(ppl "$d-awq" llamacpp "$ev") |"
    [ -n "${SKIP_GPTQ:-}" ] && continue
    quant "$d-awq-gptq" -m "$model" --transform awq --algo gptq --bits "$bits" --group-size "$gs" "${calib[@]}" --seed "$seed" "${awq_flags[@]}"
    echo "| stories260K | $label | awq+gptq | $seed | $(ppl "$d-awq-gptq" llamacpp "$ev") |"
  done
done
[ -n "${SKIP_BROWN:-}" ] && exit 0

brown="$here/models/brown-5m"
bev="$here/data/brown/eval.txt"
bcal=(--calib "$here/data/brown/calib.txt" --n-samples 32 --seqlen 256 --seed 0)
echo "| brown-5m | FP32 | - | - | $(ppl "$brown" gptq "$bev" --max-windows 64) |"
for bits in 4 3; do
  quant "$out/brown-w${bits}-rtn" -m "$brown" --algo rtn --bits "$bits" --group-size 128
  echo "| brown-5m | W${bits} g128 | rtn | - | $(ppl "$out/brown-w${bits}-rtn" gptq "$bev" --max-windows 64) |"
  quant "$out/brown-w${bits}-awq" -m "$brown" --algo awq --bits "$bits" --group-size 128 "${bcal[@]}" "${awq_flags[@]}"
  echo "| brown-5m | W${bits} g128 | awq | 0 | $(ppl "$out/brown-w${bits}-awq" gptq "$bev" --max-windows 64) |"
done
