#!/usr/bin/env bash
# Install what is missing, then run the whole test suite (real pw.x runs included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS=1
exec python3 -m pytest tests -q "$@"
