#!/usr/bin/env bash
# Issue 16, integer grids: ptq's per-linear allocation of bits x group size (ptq quantize
# --target-size, GPTQ on each chosen grid) against uniform GPTQ settings of the same size.
#   uniform G   every linear on grid G (stories260K: ffn_down, 172 inputs, packs only as int8pc, so it
#               is int8pc in every setting), GPTQ one-shot on the calibration statistics
#   ptq@G       the allocation at exactly uniform G's bytes (GPTQ tensors: codes, zeros, fp16 scales,
#               g_idx), candidates CANDIDATES, costs = single-linear KL measured by ptq sensitivity
#               (last WINDOWS_SENS windows of the calibration text), REFINE re-weighting rounds
# Each model directory: bytes as the GPTQ export stores its tensors, bits per weight of the linear
# layers, ptq eval's KL to FP and perplexity on the first WINDOWS windows of the evaluation text, the
# allocation's predicted and measured KL (allocation.json).
# Usage: experiments/recipes/mixed_precision_grids.sh [OUT_DIR]
#   (env: MODELS="stories260K brown-5m", WINDOWS, WINDOWS_SENS, REFINE, THREADS, UNIFORM, CANDIDATES_<model>)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/mixed_precision_grids}"
threads="${THREADS:-1}"
windows="${WINDOWS:-40}"
windows_sens="${WINDOWS_SENS:-8}"
refine="${REFINE:-2}"
only="${MODELS:-stories260K brown-5m}"
uniform="${UNIFORM:-int2g32 int3g32 int3g128 int4g128 int4g32}"
mkdir -p "$out"

models=(
  "stories260K|$data/models/stories260K.bin|$data/models/tok512.model|$data/text/tinystories_valid_calib.txt|$data/text/tinystories_valid_eval.txt|${CANDIDATES_stories260K:-grids}"
  "brown-5m|$here/models/brown-5m|$here/models/brown-5m/tokenizer.model|$here/data/brown/calib.txt|$here/data/brown/eval.txt|${CANDIDATES_brown5m:-int2g32,int2g128,int2pc,int3g32,int3g128,int3pc,int4g32,int4g128,int4pc,int8g32,int8g128,int8pc}"
)

kl_fields() {  # kl.json -> "mean_kl stderr ppl"
  python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["texts"][0]["kl_divergence"]; print(k["mean_kl"], k["kl_stderr"], k["ppl"])' "$1"
}
alloc_fields() {  # allocation.json -> "total_bytes bpw predicted measured_written"
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(a["total_bytes"], "%.4f" % a["bits_per_weight"], "%.6f" % a["predicted"], "%.6f" % a.get("measured_written", 0))' "$1"
}

echo "| model | setting | bytes (GPTQ tensors) | bpw (linears) | ptq PPL | mean KL ± stderr | KL vs uniform | predicted KL (sum) | measured KL (sens. windows) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  IFS='|' read -r name model tok calib evaltext cands <<<"$m"
  [[ " $only " == *" $name "* ]] || continue
  d="$out/$name"
  mkdir -p "$d"
  sens="$d/sens"
  [ -f "$sens/sensitivity.json" ] || nice -n 10 "$ptq" --threads "$threads" sensitivity -m "$model" -t "$tok" --calib "$calib" \
      --n-samples 128 --calib-seqlen 256 --seed 0 --types "$cands" --windows "$windows_sens" --seqlen 256 --no-layers \
      --out "$sens" >"$d/sens.log" 2>&1
  common=(--threads "$threads" quantize -m "$model" -t "$tok" --algo gptq --one-shot --calib "$calib" --n-samples 128
          --seqlen 256 --seed 0 --stats "$sens/stats.h5" --sensitivity "$sens/sensitivity.json")
  for g in $uniform; do
    # Uniform G: the only allocation at the smallest size of candidates {G, int8pc} (int8pc is what
    # a layer G cannot pack falls back to; it is larger than G wherever G fits).
    u="$d/uniform-$g"
    if [ ! -f "$u/allocation.json" ]; then
      range=$("$ptq" "${common[@]}" --candidates "$g,int8pc" --target-bpw 0.01 --out "$u" 2>&1 | sed -n 's/.*bits per weight of the linear layers, \([0-9]*\) .. .*/\1/p' || true)
      [ -n "$range" ] || { echo "no reachable range for $g on $name" >&2; continue; }
      nice -n 10 "$ptq" "${common[@]}" --candidates "$g,int8pc" --target-size "$range" --refine 0 --out "$u" >"$u.log" 2>&1
    fi
    bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total_bytes"])' "$u/allocation.json")
    a="$d/ptq-at-$g"
    [ -f "$a/allocation.json" ] || nice -n 10 "$ptq" "${common[@]}" --target-size "$bytes" --refine "$refine" --out "$a" >"$a.log" 2>&1
    for dir in "$u" "$a"; do
      [ -f "$dir.kl.json" ] || nice -n 10 "$ptq" --threads "$threads" eval -m "$dir" --reference "$model" -t "$tok" --text "$evaltext" \
          --seqlen 256 --protocol llamacpp --max-windows "$windows" --json "$dir.kl.json" >"$dir.eval.log" 2>&1
    done
    read -r ukl use uppl <<<"$(kl_fields "$u.kl.json")"
    read -r ub ubpw upred umeas <<<"$(alloc_fields "$u/allocation.json")"
    read -r akl ase appl <<<"$(kl_fields "$a.kl.json")"
    read -r ab abpw apred ameas <<<"$(alloc_fields "$a/allocation.json")"
    printf "| %s | uniform %s | %s | %s | %.4f | %.5f ± %.5f | +0.0 %% | %s | %s |\n" "$name" "$g" "$ub" "$ubpw" "$uppl" "$ukl" "$use" "$upred" "$umeas"
    printf "| %s | ptq at %s's size | %s | %s | %.4f | %.5f ± %.5f | %+.1f %% | %s | %s |\n" "$name" "$g" "$ab" "$abpw" "$appl" "$akl" "$ase" \
        "$(python3 -c "print(100*($akl/$ukl-1))")" "$apred" "$ameas"
  done
done
