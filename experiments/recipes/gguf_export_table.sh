#!/usr/bin/env bash
# Issue 6's table: stories260K and the default model exported to GGUF as Q4_0 and as Q4_K_M by four
# methods, each file's size, bits per weight, and perplexity measured by llama.cpp itself
# (node-llama-cpp, tests/export/node/llama/perplexity.mjs) beside ptq's own evaluation of the file.
#   rtn      llama.cpp's reference quantizers (ptq's bit-exact copies)
#   imatrix  the importance-weighted quantizers, importance from ptq's calibration statistics
#   gptq     GPTQ on the block grid itself (Hessians from the same statistics)
#   awq      AWQ's scales and clipping searched against the type's own quantizers (--awq-ggml-type; a mix:
#            each tensor against the type the export gives it),
#            written in full precision (--algo none), then the type's reference quantizer
# Usage: experiments/recipes/gguf_export_table.sh [OUT_DIR]   (WINDOWS=N windows of n_ctx 256; THREADS)
# Needs ../shared/data (stories260K), data/brown (make brown) and node-llama-cpp installed by the
# export tests (build/test_export "[llamacpp]" installs it under build/test-scratch).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/gguf_export_table}"
threads="${THREADS:-1}"
windows="${WINDOWS:-40}"
node_dir="${NODE_DIR:-$here/build/test-scratch/node-gguf-client-llama}"
[ -d "$node_dir/node_modules/node-llama-cpp" ] || { echo "node-llama-cpp not installed in $node_dir: run build/test_export \"[llamacpp]\" once" >&2; exit 1; }
mkdir -p "$out"

# model name, path, tokenizer, calibration text, evaluation text, parameter count (for bits per weight)
models=(
  "stories260K|$data/models/stories260K.bin|$data/models/tok512.model|$data/text/tinystories_valid_calib.txt|$data/text/tinystories_valid_eval.txt|292800"
  "brown-5m|$here/models/brown-5m|$here/models/brown-5m/tokenizer.model|$here/data/brown/calib.txt|$here/data/brown/eval.txt|4065536"
)

echo "| model | type | method | bytes | bits/weight (file) | llama.cpp PPL | ptq PPL | diff |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  IFS='|' read -r name model tok calib evaltext params <<<"$m"
  d="$out/$name"
  mkdir -p "$d"
  stats="$d/stats.h5"
  common=(--calib "$calib" --n-samples 128 --seqlen 256 --seed 0)
  [ -f "$stats" ] || "$ptq" --threads "$threads" quantize -m "$model" -t "$tok" --algo gptq --one-shot --bits 4 --group-size 32 \
      "${common[@]}" --stats "$stats" --out "$d/gptq-w4g32" >"$d/stats.log" 2>&1
  for type in q4_0 q4_k_m; do
    target=$type  # a mix: each tensor searched against the type the export gives it
    awq_fp="$d/awq-$target-fp"
    [ -d "$awq_fp" ] || "$ptq" --threads "$threads" quantize -m "$model" -t "$tok" --transform awq --algo none \
        --awq-ggml-type "$target" --bits 4 --group-size 32 "${common[@]}" --out "$awq_fp" >"$awq_fp.log" 2>&1
    for method in rtn imatrix gptq awq; do
      f="$d/$type-$method.gguf"
      src="$model"; extra=()
      case $method in
        imatrix) extra=(--imatrix "$stats") ;;
        gptq) extra=(--gptq-stats "$stats") ;;
        awq) src="$awq_fp" ;;
      esac
      [ -f "$f" ] || "$ptq" export -m "$src" -t "$tok" --type "$type" --fallback f16 "${extra[@]}" -o "$f" >"$f.log" 2>&1
      bytes=$(stat -c %s "$f")
      theirs=$(cd "$node_dir" && node perplexity.mjs "$f" "$evaltext" 256 "$windows" | sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p')
      ours=$("$ptq" --threads "$threads" eval -m "$f" --text "$evaltext" --seqlen 256 --protocol llamacpp \
               --max-windows "$windows" 2>/dev/null | awk 'END {print $6}')
      awk -v n="$name" -v t="$type" -v me="$method" -v b="$bytes" -v p="$params" -v a="$theirs" -v o="$ours" \
        'BEGIN {printf "| %s | %s | %s | %d | %.2f | %.4f | %.4f | %+.2f %% |\n", n, t, me, b, b * 8 / p, a, o, 100 * (a / o - 1)}'
    done
  done
done
