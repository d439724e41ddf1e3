#!/usr/bin/env bash
# Install what is missing, then run the whole test suite (real pw.x runs included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS=1
# Two pytest workers (pytest-xdist), one per core: pw.x runs serially, so the pw.x tests of one
# module run beside another module's; --dist loadscope keeps a module's shared runs on one worker.
# TIPSURF_TEST_WORKERS=0 runs everything in this process.
exec python3 -m pytest tests -q -n "${TIPSURF_TEST_WORKERS:-2}" --dist loadscope --durations=15 "$@"
