#!/usr/bin/env bash
# Issue 16's table: ptq's mixed-precision GGUF allocation against llama.cpp's mixes (q2_k_s, q3_k_m,
# q4_k_m, q5_k_m, each made with an importance matrix from ptq's calibration statistics, as
# llama-quantize --imatrix) at the same file size, on stories260K and the default model.
#   mix+imatrix  llama.cpp's per-tensor rules, importance-weighted quantizers (llama.cpp's recipe)
#   mix+gptq     the same rules, GPTQ on every block grid (what ptq adds without mixing types)
#   ptq          `ptq export --target-size <mix+imatrix's bytes> --gptq-stats`: per-tensor types from
#                the measured single-tensor KL (ptq sensitivity, last WINDOWS_SENS windows of the
#                calibration text), exact multiple-choice knapsack, GPTQ on each chosen type
# Each file: bytes, ptq eval's KL to FP (mean ± stderr, p99, top-1 agreement) and perplexity on the
# first WINDOWS windows of the held-out evaluation text, and for mix+imatrix and ptq llama.cpp's
# perplexity (node-llama-cpp running the file) on its first NODE_WINDOWS windows (node scores ~5 s a
# window; "-" where not run).
# Then the KL-vs-size front: ptq's allocations at SWEEP sizes, with the mixes as reference points
# (runs/mixed_precision_table/<model>/front.csv, front_kl.svg, front_ppl.svg).
# Usage: experiments/recipes/mixed_precision_table.sh [OUT_DIR]
#   (env: WINDOWS, NODE_WINDOWS, WINDOWS_SENS, SENS_FLAGS, FRONT_POINTS, MODELS="stories260K brown-5m", THREADS)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/mixed_precision_table}"
threads="${THREADS:-1}"
windows="${WINDOWS:-40}"
windows_sens="${WINDOWS_SENS:-8}"
node_windows="${NODE_WINDOWS:-8}"
front_points="${FRONT_POINTS:-10}"  # the front: ptq allocations at FRONT_POINTS + 1 sizes
only="${MODELS:-stories260K brown-5m}"  # llama.cpp through node scores ~5 s per window
node_dir="${NODE_DIR:-$here/build/test-scratch/node-gguf-client-llama}"
[ -d "$node_dir/node_modules/node-llama-cpp" ] || { echo "node-llama-cpp not installed in $node_dir: run build/test_export \"[llamacpp]\" once" >&2; exit 1; }
mkdir -p "$out"

models=(
  "stories260K|$data/models/stories260K.bin|$data/models/tok512.model|$data/text/tinystories_valid_calib.txt|$data/text/tinystories_valid_eval.txt"
  "brown-5m|$here/models/brown-5m|$here/models/brown-5m/tokenizer.model|$here/data/brown/calib.txt|$here/data/brown/eval.txt"
)

# kl.json -> "mean_kl stderr p99 top1 ppl"
kl_fields() {
  python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["texts"][0]["kl_divergence"]; print(k["mean_kl"], k["kl_stderr"], k["kl_p99"], k["top1_agreement"], k["ppl"])' "$1"
}

evaluate() {  # file model evaltext [node] -> "bytes llama_ppl kl stderr p99 top1 ptq_ppl" (llama_ppl 0 without node)
  local f=$1 model=$2 evaltext=$3 node=${4:-}
  [ -f "$f.kl.json" ] || "$ptq" --threads "$threads" eval -m "$f" --reference "$model" --text "$evaltext" --seqlen 256 \
      --protocol llamacpp --max-windows "$windows" --json "$f.kl.json" >"$f.eval.log" 2>&1
  local theirs=0
  if [ -n "$node" ]; then
    [ -s "$f.node.json" ] || (cd "$node_dir" && node perplexity.mjs "$f" "$evaltext" 256 "$node_windows") >"$f.node.json"
    theirs=$(sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p' "$f.node.json")
  fi
  echo "$(stat -c %s "$f") $theirs $(kl_fields "$f.kl.json")"
}

echo "| model | mix | method | bytes | bits/weight | size vs mix | llama.cpp PPL ($node_windows w) | ptq PPL | mean KL ± stderr | KL p99 | top-1 | KL vs mix+imatrix |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  IFS='|' read -r name model tok calib evaltext <<<"$m"
  [[ " $only " == *" $name "* ]] || continue
  d="$out/$name"
  mkdir -p "$d"
  sens="$d/sens"
  [ -f "$sens/sensitivity.json" ] || "$ptq" --threads "$threads" sensitivity -m "$model" -t "$tok" --calib "$calib" \
      --n-samples 128 --calib-seqlen 256 --seed 0 --windows "$windows_sens" ${SENS_FLAGS:-} --seqlen 256 --out "$sens" >"$d/sens.log" 2>&1
  stats="$sens/stats.h5"
  front="$d/front.csv"
  echo "kind,label,bytes,kl,kl_stderr,ppl,llama_ppl" >"$front"
  for mix in q2_k_s q3_k_m q4_k_m q5_k_m; do
    ref="$d/$mix-imatrix.gguf"
    [ -f "$ref" ] || "$ptq" export -m "$model" -t "$tok" --type "$mix" --fallback f16 --imatrix "$stats" -o "$ref" >"$ref.log" 2>&1
    gq="$d/$mix-gptq.gguf"
    [ -f "$gq" ] || "$ptq" export -m "$model" -t "$tok" --type "$mix" --fallback f16 --gptq-stats "$stats" -o "$gq" >"$gq.log" 2>&1
    bytes=$(stat -c %s "$ref")
    ours="$d/ptq-at-$mix.gguf"
    [ -f "$ours" ] || "$ptq" export -m "$model" -t "$tok" --fallback f16 --gptq-stats "$stats" --sensitivity "$sens/sensitivity.json" \
        --target-size "$bytes" -o "$ours" >"$ours.log" 2>&1
    read -r _ _ ref_kl _ _ _ _ <<<"$(evaluate "$ref" "$model" "$evaltext" node)"
    for row in "mix+imatrix|$ref|node" "mix+gptq|$gq|" "ptq|$ours|node"; do
      IFS='|' read -r method f node <<<"$row"
      read -r b lp kl se p99 top1 pp <<<"$(evaluate "$f" "$model" "$evaltext" "$node")"
      params=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"])' "$ours.allocation.json")
      awk -v n="$name" -v mx="$mix" -v me="$method" -v b="$b" -v rb="$bytes" -v p="$params" -v lp="$lp" -v pp="$pp" \
          -v kl="$kl" -v se="$se" -v p99="$p99" -v t1="$top1" -v rk="$ref_kl" \
        'BEGIN {printf "| %s | %s | %s | %d | %.3f | %+.2f %% | %s | %.4f | %.5f ± %.5f | %.4f | %.2f %% | %+.1f %% |\n",
                n, mx, me, b, b * 8 / p, 100 * (b / rb - 1), lp == 0 ? "-" : sprintf("%.4f", lp), pp, kl, se, p99, 100 * t1, 100 * (kl / rk - 1)}'
      echo "$method,$mix,$b,$kl,$se,$pp,$lp" >>"$front"
    done
  done
  # The front: ptq's allocations at sizes spread over the reachable range (the range from an error message).
  range=$("$ptq" export -m "$model" -t "$tok" --fallback f16 --gptq-stats "$stats" --sensitivity "$sens/sensitivity.json" \
            --target-size 1 -o "$d/none.gguf" 2>&1 | sed -n 's/.*reachable range \([0-9]*\) \.\. \([0-9]*\) bytes.*/\1 \2/p' || true)
  read -r lo hi <<<"$range"
  for k in $(seq 0 "$front_points"); do
    size=$(( lo + (hi - lo) * k / front_points ))
    f="$d/front-$k.gguf"
    [ -f "$f" ] || "$ptq" export -m "$model" -t "$tok" --fallback f16 --gptq-stats "$stats" --sensitivity "$sens/sensitivity.json" \
        --target-size "$size" -o "$f" >"$f.log" 2>&1
    read -r b lp kl se p99 top1 pp <<<"$(evaluate "$f" "$model" "$evaltext")"
    echo "ptq-front,$k,$b,$kl,$se,$pp,$lp" >>"$front"
  done
  python3 "$here/experiments/recipes/mixed_precision_front_plot.py" "$front" "$name" "$d"
done
