#!/usr/bin/env bash
# Install everything tipsurf needs on a fresh Debian 12 machine (idempotent, quick when done):
# Quantum ESPRESSO from Debian with OpenBLAS (pw.x is ~5x slower on the reference BLAS),
# then tipsurf itself with its Python dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pw.x >/dev/null 2>&1 || need_apt+=(quantum-espresso)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need_apt+=(libopenblas0-pthread)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "tipsurf setup: installing Debian packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
here="$(pwd)/src/tipsurf"
installed="$("$PY" -c "import tipsurf, pytest, xdist, os; print(os.path.dirname(os.path.realpath(tipsurf.__file__)))" 2>/dev/null || true)"
# (re)install when missing, or when the importable tipsurf is another checkout's
if [ "$installed" != "$(realpath "$here")" ] || [ "${TIPSURF_REINSTALL:-0}" = 1 ]; then
    echo "tipsurf setup: installing the tipsurf Python package and its dependencies"
    "$PY" -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -e '^WARNING: Location' -e 'Running pip as the' || true
fi
"$PY" -c "import tipsurf" || { echo "tipsurf setup: the Python package did not install" >&2; exit 1; }
