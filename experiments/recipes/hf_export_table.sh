#!/usr/bin/env bash
# Issue 6's Hugging Face exports on the default model (models/brown-5m): ptq quantizes, `ptq export
# --format gptq|awq|hf-fp16` packs, and ptq evaluates the exported directory (read back through its
# GPTQ / AWQ reader) beside the quantized directory it came from. Prints each export's size (all
# safetensors shards), the number of packed layers, export time, and both perplexities (GPTQ protocol, n_ctx 256, all of
# data/brown/eval.txt); the difference is the fp16 rounding of scales and unquantized tensors.
#   gptq-w4g128-act   GPTQ W4 g128 sym act-order  -> gptq (v1)
#   gptq-w3g128       GPTQ W3 g128 sym            -> gptq (v1, 3-bit words straddle int32s)
#   rtn-w4g128-asym   RTN W4 g128 asym            -> awq (GEMM) and gptq_v2 (zero points of 0 allowed)
#   fp                the FP model                 -> hf-fp16
# Usage: experiments/recipes/hf_export_table.sh [OUT_DIR]   (THREADS; needs data/brown: make brown)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
out="${1:-$here/runs/hf_export_table}"
threads="${THREADS:-2}"
model="$here/models/brown-5m"
evaltext="$here/data/brown/eval.txt"
calib=(--calib "$here/data/brown/calib.txt" --n-samples 128 --seqlen 256 --seed 0)
mkdir -p "$out"

ppl() {  # perplexity of model $1
  "$ptq" --threads "$threads" eval -m "$1" --text "$evaltext" --seqlen 256 --protocol gptq --json "$out/eval.json" >/dev/null 2>&1
  python3 -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["texts"][0]["ppl"])' "$out/eval.json"
}

quantize() {  # name, then ptq quantize options
  local name=$1; shift
  [ -d "$out/$name" ] || "$ptq" --threads "$threads" quantize -m "$model" "$@" --out "$out/$name" >"$out/$name.log" 2>&1
}
quantize gptq-w4g128-act --algo gptq --bits 4 --group-size 128 --sym --act-order "${calib[@]}"
quantize gptq-w3g128 --algo gptq --bits 3 --group-size 128 --sym "${calib[@]}"
quantize rtn-w4g128-asym --algo rtn --bits 4 --group-size 128

echo "| source | format | bytes | packed layers | export s | PPL (ptq directory) | PPL (export) | diff |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for row in "gptq-w4g128-act gptq gptq" "gptq-w3g128 gptq gptq" "rtn-w4g128-asym awq gptq" "rtn-w4g128-asym gptq gptq_v2" "fp hf-fp16 gptq"; do
  read -r src format ckpt <<<"$row"
  srcdir=$([ "$src" = fp ] && echo "$model" || echo "$out/$src")
  dst="$out/$src-$format-$ckpt"
  extra=(); label=$format
  [ "$format" = gptq ] && extra=(--checkpoint-format "$ckpt") && label="$format ($ckpt)"
  t0=$(date +%s.%N)
  "$ptq" --threads "$threads" export -m "$srcdir" --format "$format" "${extra[@]}" --out "$dst" >"$dst.log" 2>&1
  t1=$(date +%s.%N)
  bytes=$(du -cb "$dst"/*.safetensors | tail -1 | cut -f1)
  layers=$(sed -n 's/.*, \([0-9]*\) packed layers.*/\1/p' "$dst.log")
  a=$(ppl "$srcdir"); b=$(ppl "$dst")
  awk -v s="$src" -v f="$label" -v by="$bytes" -v l="${layers:--}" -v t="$(echo "$t1 - $t0" | bc)" -v a="$a" -v b="$b" \
    'BEGIN {printf "| %s | %s | %d | %s | %.2f | %.4f | %.4f | %+.3f %% |\n", s, f, by, l, t, a, b, 100 * (b / a - 1)}'
done
