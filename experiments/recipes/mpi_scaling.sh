#!/usr/bin/env bash
# Issue 15: wall time of calibration + GPTQ and of evaluation on 1 and 2 MPI ranks (this machine's
# 2 cores, one thread per rank), with each rank's bytes sent/received and time spent waiting
# (PTQ_DIST_STATS=1), on the default model and on a 7B-width synthetic model (hidden 4096,
# intermediate 11008, 2 layers). Results: experiments/results/2026-12-03-mpi.md.
# Usage: experiments/recipes/mpi_scaling.sh [OUT_DIR]   (PTQ=path/to/ptq to use another binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
PTQ=${PTQ:-build/ptq}
OUT=${1:-runs/mpi-scaling}
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader PTQ_DIST_STATS=1
timed() {  # label, command...
  local label=$1; shift
  local t0=$(date +%s.%N)
  "$@" > "$OUT/$label.log" 2>&1
  local t1=$(date +%s.%N)
  printf '%-34s %8.1f s\n' "$label" "$(echo "$t1 - $t0" | bc)"
  grep -h "ptq: rank" "$OUT/$label.log" || true
}
run_n() {  # ranks, ptq args...
  local n=$1; shift
  if [[ $n == 1 ]]; then nice -n 10 "$PTQ" --threads 1 "$@"; else nice -n 10 mpirun -np "$n" --oversubscribe "$PTQ" --threads 1 "$@"; fi
}

# Default model: GPTQ W4 g128, sequential (true-sequential) calibration on 128 x 256 tokens.
M=models/brown-5m
for n in 1 2; do
  rm -rf "$OUT/brown-$n" "$OUT/brown-$n.h5"
  timed "brown-5m calib+gptq ranks=$n" run_n $n quantize -m $M --algo gptq --bits 4 --group-size 128 \
    --calib data/brown/calib.txt --n-samples 128 --seqlen 256 --stats "$OUT/brown-$n.h5" --out "$OUT/brown-$n"
done
for n in 1 2; do
  timed "brown-5m eval ranks=$n" run_n $n eval -m "$OUT/brown-1" --text data/brown/eval.txt --seqlen 256 --batch 4 \
    --json "$OUT/brown-eval-$n.json"
done
cmp "$OUT/brown-1/model-00001-of-00005.safetensors" "$OUT/brown-2/model-00001-of-00005.safetensors" && echo "brown-5m shards identical (layer 0)"

# 7B-width synthetic model, 2 layers, one-shot calibration on 8 x 256 tokens (sequential would
# repeat the passes; the statistics and GPTQ per layer are the same work).
S=$OUT/synth-7b-width
[[ -d $S ]] || nice -n 10 "$PTQ" --threads 2 synth --hidden 4096 --intermediate 11008 --layers 2 --heads 32 --kv-heads 32 \
  --vocab 4096 --dtype f16 --out "$S"
for n in 1 2; do
  rm -rf "$OUT/synth-$n" "$OUT/synth-$n.h5"
  timed "7B-width calib+gptq ranks=$n" run_n $n quantize -m "$S" --algo gptq --bits 4 --group-size 128 --one-shot \
    --calib data/brown/calib.txt --n-samples 8 --seqlen 256 --calib-batch 2 --stats "$OUT/synth-$n.h5" --out "$OUT/synth-$n"
done
for n in 1 2; do
  timed "7B-width eval ranks=$n" run_n $n eval -m "$OUT/synth-1" --text data/brown/eval.txt --seqlen 256 --batch 2 \
    --max-windows 8 --json "$OUT/synth-eval-$n.json"
done
