#!/usr/bin/env bash
# Issue 19 (part 4): stories260K and the default model exported to GGUF as llama.cpp's non-linear
# IQ4_NL and IQ4_XS by three methods, each file's size, bits per weight, and perplexity measured by
# llama.cpp itself (node-llama-cpp, tests/export/node/llama/perplexity.mjs) beside ptq's own
# evaluation of the file. Q4_0 (RTN) is repeated as the 4.5-bit uniform-grid reference.
#   rtn      llama.cpp's quantizer without an imatrix (ptq's bit-exact copy of quantize_iq4_nl/_xs)
#   imatrix  the same with importance from ptq's calibration statistics (mean squared activation)
#   gptq     GPTQ on the level grid itself (Hessians from the same statistics; each block's scales
#            from the importance-weighted quantizer when GPTQ reaches it, then the nearest levels)
# Usage: experiments/recipes/iq4_table.sh [OUT_DIR]   (WINDOWS=N windows of n_ctx 256; THREADS)
# Statistics: reused from STATS_DIR/<model>/stats.h5 when present (gguf_export_table.sh writes the
# same ones), else computed here. Needs ../shared/data (stories260K), data/brown (make brown) and
# node-llama-cpp installed by the export tests (build/test_export "[llamacpp]").
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ptq="${PTQ:-$here/build/ptq}"
data="${PTQ_SHARED_DIR:-$here/../shared/data}"
out="${1:-$here/runs/iq4_table}"
threads="${THREADS:-1}"
windows="${WINDOWS:-40}"
stats_dir="${STATS_DIR:-$here/runs/gguf_export_table}"
node_dir="${NODE_DIR:-$here/build/test-scratch/node-gguf-client-llama}"
[ -d "$node_dir/node_modules/node-llama-cpp" ] || { echo "node-llama-cpp not installed in $node_dir: run build/test_export \"[llamacpp]\" once" >&2; exit 1; }
mkdir -p "$out"

# model name, path, tokenizer, calibration text, evaluation text, parameter count (for bits per weight)
models=(
  "stories260K|$data/models/stories260K.bin|$data/models/tok512.model|$data/text/tinystories_valid_calib.txt|$data/text/tinystories_valid_eval.txt|292800"
  "brown-5m|$here/models/brown-5m|$here/models/brown-5m/tokenizer.model|$here/data/brown/calib.txt|$here/data/brown/eval.txt|4065536"
)

echo "| model | type | method | bytes | bits/weight (file) | fallbacks | llama.cpp PPL | ptq PPL | diff |"
echo "|---|---|---|---:|---:|---|---:|---:|---:|"
for m in "${models[@]}"; do
  IFS='|' read -r name model tok calib evaltext params <<<"$m"
  d="$out/$name"
  mkdir -p "$d"
  stats="$stats_dir/$name/stats.h5"
  if [ ! -f "$stats" ]; then
    stats="$d/stats.h5"
    [ -f "$stats" ] || "$ptq" --threads "$threads" quantize -m "$model" -t "$tok" --algo gptq --one-shot --bits 4 --group-size 32 \
        --calib "$calib" --n-samples 128 --seqlen 256 --seed 0 --stats "$stats" --out "$d/gptq-w4g32" >"$d/stats.log" 2>&1
  fi
  for tm in q4_0:rtn iq4_nl:rtn iq4_nl:imatrix iq4_nl:gptq iq4_xs:rtn iq4_xs:imatrix iq4_xs:gptq; do
    type=${tm%%:*}; method=${tm##*:}
    f="$d/$type-$method.gguf"
    extra=()
    case $method in
      imatrix) extra=(--imatrix "$stats") ;;
      gptq) extra=(--gptq-stats "$stats") ;;
    esac
    [ -f "$f" ] || "$ptq" --threads "$threads" export -m "$model" -t "$tok" --type "$type" --fallback f16 "${extra[@]}" -o "$f" >"$f.log" 2>&1
    bytes=$(stat -c %s "$f")
    # llama.cpp's fallbacks the export made (from its log), e.g. "IQ4_NL 20, F16 5"; "-" for none.
    fallbacks=$(sed -n 's/.*fallback .* -> \([A-Z0-9_]*\) .*/\1/p' "$f.log" | sort | uniq -c | awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1}')
    theirs=$(cd "$node_dir" && node perplexity.mjs "$f" "$evaltext" 256 "$windows" | sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p')
    ours=$("$ptq" --threads "$threads" eval -m "$f" --text "$evaltext" --seqlen 256 --protocol llamacpp \
             --max-windows "$windows" 2>/dev/null | awk 'END {print $6}')
    awk -v n="$name" -v t="$type" -v me="$method" -v b="$bytes" -v p="$params" -v c="${fallbacks:--}" -v a="$theirs" -v o="$ours" \
      'BEGIN {printf "| %s | %s | %s | %d | %.2f | %s | %.4f | %.4f | %+.2f %% |\n", n, t, me, b, b * 8 / p, c, a, o, 100 * (a / o - 1)}'
  done
done
