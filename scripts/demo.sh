#!/usr/bin/env bash
# Install what is missing, then run the demo: a real QE p/ap distance scan of a small
# Fe tip over Mn/W(110), ending with the Eex(d)/Fex(d) table, a CSV and a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS=1
exec tipsurf demo "$@"
