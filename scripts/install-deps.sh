#!/usr/bin/env bash
# Installs the Debian 12 packages ptq builds and tests with. Idempotent: does nothing when all
# packages are present. Nothing is fetched from anywhere but Debian's own archive.
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config
  libtorch-dev            # LibTorch 1.13 (CPU): the model and tensors
  libeigen3-dev           # small dense linear algebra
  libopenblas-dev liblapacke-dev   # sgemm/ssyrk, dpotrf/dpotri for GPTQ
  libhdf5-dev             # the calibration statistics store
  libyaml-cpp-dev         # experiments
  nlohmann-json3-dev      # config.json, tokenizer.json, safetensors headers
  libicu-dev              # Unicode categories and NFC for byte-level BPE pre-tokenizers
  sentencepiece           # spm_encode (the tokenizer oracle in tests) and spm_train
  libcli11-dev            # the command line
  catch2                  # tests (Catch2 v2)
  libopenmpi-dev openmpi-bin       # MPI: mpirun -np N ptq ... (src/dist)
  nodejs npm              # real clients used by tests only (llama.cpp, GGUF parser)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere on a developer machine: accept any working node + npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "ptq: installing Debian packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
