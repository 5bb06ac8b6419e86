#!/usr/bin/env bash
# A GPU run ready to go (issue 23 item 4), from the repository root on a machine with an NVIDIA
# GPU: installs the CUDA build of torch (README, "GPU or CPU": on Linux PyPI serves it), then
# `python -m benchmarks.gpu` runs the GPU tests and times MF, HMF depth 1 and 2 and MFDMC epochs
# at ML-1M and ML-20M sizes on the GPU beside the CPU into benchmarks/results/gpu.md.
#   bash benchmarks/gpu.sh                          # PYTHON=.venv/bin/python by default
#   bash benchmarks/gpu.sh --dry-run --out /tmp/gpu.md   # no GPU: no install, tiny, CPU only
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [[ " $* " != *" --dry-run "* ]]; then
    if ! nvidia-smi -L >/dev/null 2>&1; then  # before touching the venv's torch
        echo "gpu.sh: no NVIDIA GPU here (nvidia-smi -L failed); add --dry-run to test the script on the CPU" >&2
        exit 2
    fi
    if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.version.cuda else 1)'; then
        # a CPU build satisfies torch==2.13.0 too: remove it so pip fetches PyPI's CUDA build
        "$PYTHON" -m pip uninstall -y torch
        "$PYTHON" -m pip install torch==2.13.0
        "$PYTHON" -m pip install -e .
    fi
fi
exec "$PYTHON" -m benchmarks.gpu "$@"
