#!/usr/bin/env bash
# Issue 14 measurements: ptq synth of Llama-2-7B / Llama-3-8B shapes, then quantize (RTN, GPTQ W4 g128),
# perplexity, GGUF Q4_0 / Q4_K_M and GPTQ safetensors exports, each under /usr/bin/time -v (wall time,
# peak RSS) with ptq's own estimate printed first. Usage, from the repository root:
#   experiments/recipes/scale_7b.sh STEP...   (steps: synth7b synth7b-4l quant4l eval4l export4l synth8b quant7b-rtn eval7b)
# Env: PTQ (binary, default a copy in /tmp/scale), OUT (default /tmp/scale/runs), THREADS (default 2).
set -euo pipefail
PTQ=${PTQ:-/tmp/scale/ptq}
OUT=${OUT:-/tmp/scale/runs}
THREADS=${THREADS:-2}
CALIB=${CALIB:-data/brown/calib.txt}
EVAL=${EVAL:-data/brown/eval.txt}
mkdir -p "$OUT"
run() {  # name, command...
  local name=$1; shift
  echo "=== $name: $*" | tee "$OUT/$name.log"
  /usr/bin/time -v nice -n 10 "$@" >>"$OUT/$name.log" 2>&1 || echo "FAILED $name" | tee -a "$OUT/$name.log"
  grep -E "Elapsed|Maximum resident" "$OUT/$name.log" | sed "s/^/$name: /"
}
for step in "$@"; do
  case $step in
    synth7b)    run synth7b $PTQ --threads $THREADS synth --shape llama2-7b --dtype f16 --seed 1 --out "$OUT/llama2-7b" ;;
    synth7b-4l) run synth7b-4l $PTQ --threads $THREADS synth --shape llama2-7b --layers 4 --dtype f16 --seed 1 --out "$OUT/llama2-7b-4l" ;;
    synth8b)    run synth8b $PTQ --threads $THREADS synth --shape llama3-8b --dtype bf16 --seed 1 --out "$OUT/llama3-8b" ;;
    quant4l)
      run rtn4l $PTQ --threads $THREADS quantize -m "$OUT/llama2-7b-4l" --algo rtn --bits 4 --group-size 128 --out "$OUT/rtn-4l"
      run gptq4l $PTQ --threads $THREADS quantize -m "$OUT/llama2-7b-4l" --algo gptq --bits 4 --group-size 128 --act-order \
        --calib $CALIB --n-samples 8 --seqlen 512 --out "$OUT/gptq-4l" ;;
    eval4l)
      run eval4l $PTQ --threads $THREADS eval -m "$OUT/gptq-4l" --text $EVAL --seqlen 512 --max-windows 4 --protocol gptq ;;
    export4l)
      run q4_0-4l $PTQ --threads $THREADS export -m "$OUT/llama2-7b-4l" --format gguf --type q4_0 --out "$OUT/llama2-7b-4l-q4_0.gguf"
      run q4_k_m-4l $PTQ --threads $THREADS export -m "$OUT/llama2-7b-4l" --format gguf --type q4_k_m --out "$OUT/llama2-7b-4l-q4_k_m.gguf"
      run gptqexp-4l $PTQ --threads $THREADS export -m "$OUT/gptq-4l" --format gptq --out "$OUT/gptq-4l-hf" ;;
    quant7b-rtn)
      run rtn7b $PTQ --threads $THREADS quantize -m "$OUT/llama2-7b" --algo rtn --bits 4 --group-size 128 --out "$OUT/rtn-7b" ;;
    eval7b)
      run eval7b $PTQ --threads $THREADS eval -m "$OUT/llama2-7b" --text $EVAL --seqlen 512 --max-windows 4 --protocol gptq ;;
    eval8b)
      run eval8b $PTQ --threads $THREADS eval -m "$OUT/llama3-8b" --text $EVAL --seqlen 512 --max-windows 2 --protocol gptq ;;
    *) echo "unknown step $step"; exit 1 ;;
  esac
done
