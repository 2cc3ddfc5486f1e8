#!/usr/bin/env bash
# RTN vs GPTQ vs GPTQ act-order on stories260K (issue 3's acceptance table): calibrate on 128 random
# windows x 256 tokens of tinystories_valid_calib.txt (seed 0, sequential + true-sequential), then
# perplexity on tinystories_valid_eval.txt under both protocols (n_ctx 256).
# Usage: experiments/recipes/stories260k_rtn_gptq.sh [OUT_DIR]   (prints a Markdown table)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/stories260k_rtn_gptq}"
threads="${THREADS:-1}"  # the dim-64 model runs fastest on one thread
model="$data/models/stories260K.bin"
calib="$data/text/tinystories_valid_calib.txt"
evaltext="$data/text/tinystories_valid_eval.txt"
mkdir -p "$out"

ppl() {  # model -> "llamacpp_ppl gptq_ppl"
  local a b
  a=$("$ptq" --threads "$threads" eval -m "$1" --text "$evaltext" --seqlen 256 --protocol llamacpp | tail -1 | awk '{print $6 " ± " $7}')
  b=$("$ptq" --threads "$threads" eval -m "$1" --text "$evaltext" --seqlen 256 --protocol gptq | tail -1 | awk '{print $6 " ± " $7}')
  echo "$a|$b"
}

echo "| setting | method | PPL llama.cpp protocol | PPL GPTQ protocol |"
echo "|---|---|---|---|"
IFS='|' read -r a b <<<"$(ppl "$model")"
echo "| FP32 | - | $a | $b |"
for setting in "4 0" "3 0" "2 0" "4 32" "3 32"; do
  read -r bits gs <<<"$setting"
  label="W${bits} $([ "$gs" = 0 ] && echo per-channel || echo "g$gs") asym"
  for method in rtn gptq gptq-act-order; do
    dir="$out/w${bits}g${gs}-$method"
    args=(--algo rtn)
    [ "$method" != rtn ] && args=(--algo gptq --calib "$calib" --n-samples 128 --seqlen 256 --seed 0)
    [ "$method" = gptq-act-order ] && args+=(--act-order)
    "$ptq" --threads "$threads" quantize -m "$model" --bits "$bits" --group-size "$gs" "${args[@]}" --out "$dir" >"$dir.log" 2>&1
    IFS='|' read -r a b <<<"$(ppl "$dir")"
    echo "| $label | $method | $a | $b |"
  done
done
