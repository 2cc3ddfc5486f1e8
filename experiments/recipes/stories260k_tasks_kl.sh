#!/usr/bin/env bash
# Issue 7's tables on stories260K: the FP32 task table (lm-eval semantics, 0-shot, all documents of
# ../shared/data/eval) and KL divergence to FP32 of RTN, GPTQ and AWQ (llm-awq's scales and clip, then
# RTN) at W3 and W4 (per-channel asym), with the FP32 reference's top-k stored once in a cache and
# reused for every quantized model. Finished steps (JSON files, quantized dirs) are not redone.
# Usage: experiments/recipes/stories260k_tasks_kl.sh [OUT_DIR]   (writes OUT_DIR/*.json, prints tables)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/stories260k_tasks_kl}"
threads="${THREADS:-1}"
model="$data/models/stories260K.bin"
calib="$data/text/tinystories_valid_calib.txt"
evaltext="$data/text/tinystories_valid_eval.txt"
mkdir -p "$out"

[ -f "$out/fp32-tasks.json" ] || "$ptq" --threads "$threads" eval -m "$model" --task-dir "$data/eval" \
  --tasks lambada,piqa,arc_easy,arc_challenge,winogrande,boolq --json "$out/fp32-tasks.json"

for bits in 4 3; do
  for method in rtn gptq awq; do
    dir="$out/w${bits}-$method"
    args=(--algo rtn)
    [ "$method" = gptq ] && args=(--algo gptq --calib "$calib" --n-samples 128 --seqlen 256 --seed 0)
    [ "$method" = awq ] && args=(--algo awq --calib "$calib" --n-samples 128 --seqlen 256 --seed 0)
    [ -d "$dir" ] || "$ptq" --threads "$threads" quantize -m "$model" --bits "$bits" "${args[@]}" --out "$dir" >"$dir.log" 2>&1
    echo "== W$bits $method"
    "$ptq" --threads "$threads" eval -m "$dir" --text "$evaltext" --seqlen 256 --protocol llamacpp \
      --reference "$model" --reference-cache "$out/cache" --json "$out/w${bits}-$method-kl.json"
  done
done
