#!/usr/bin/env bash
# Make the side-by-side benchmark environments for MACE and NequIP.
#
# Each peer gets its own virtual environment because their e3nn pins conflict
# (mace-torch 0.3.x pins e3nn==0.4.4, nequip 0.19 needs e3nn>=0.6). torch is
# installed first and pinned to the CPU wheel, so no CUDA build is pulled.
# equipot is not installed into them: benchmarks/peers/compare.py runs each peer
# in its own environment as a subprocess, one after the other in the same run,
# and all of them read the same extxyz splits.
#
#   bash benchmarks/peers/setup_peers.sh            # makes benchmarks/.venv-mace and .venv-nequip
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
TORCH="torch==2.13.0"
MACE="mace-torch==0.3.16"
NEQUIP="nequip==0.19.1"

make_env() {
    local name="$1"; shift
    local venv="$here/.venv-$name"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "$TORCH"
    # torch named again so the resolver keeps the CPU wheel already installed.
    "$venv/bin/pip" install --quiet "$TORCH" "$@"
    "$venv/bin/python" -c "import torch, e3nn; print('$name:', 'torch', torch.__version__, 'e3nn', e3nn.__version__)"
}

make_env mace "$MACE"
make_env nequip "$NEQUIP"
