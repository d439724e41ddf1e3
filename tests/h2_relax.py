"""H2 relaxations with real pw.x, the small case of the relaxation-handler tests.

H2 in a 6 A box started at 0.80 A (Gamma only, no spin, 25/200 Ry), relaxed with tipsurf's QE
engine, so the default custodian handlers act on it; several settings run two at a time.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from ase import Atoms

from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.engines.qe import QEEngine

H2_BOX_A = 6.0


def h2_relax_preset(conv_thr_Ry: float, control: dict[str, Any], ions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``fast`` preset cut down to H2: ``conv_thr_Ry`` and the given &CONTROL / &IONS keys."""
    extra: dict[str, Any] = {"control": control}
    if ions:
        extra["ions"] = ions
    return merge_preset(load_preset("fast"), {
        "kpoints": {"mesh": [1, 1, 1]}, "spin_polarized": False, "dipole_correction": False, "smearing": None,
        "ecutwfc_Ry": 25, "ecutrho_Ry": 200, "conv_thr_Ry": conv_thr_Ry, "conv_thr_Ry_per_atom": None,
        "extra": extra})


def run_h2_relaxations(pseudo_provider: Any, tmp_path_factory: pytest.TempPathFactory, name: str,
                       presets: dict[str, dict[str, Any]], write_only: tuple[str, ...] = ()) -> tuple[Path, dict[str, Any]]:
    """Write one H2 relaxation per preset (folder = its key) and run those not in ``write_only``, two at a time.

    Returns the root folder and ``{key: the engine's result}``; skips without pw.x.
    """
    if shutil.which("pw.x") is None:
        pytest.skip("needs pw.x on PATH (install Debian quantum-espresso: bash scripts/install.sh)")
    cfg = pseudo_provider.usable(tmp_path_factory.mktemp(f"{name}-cache")).config()
    root = tmp_path_factory.mktemp(name)
    atoms = Atoms("H2", positions=[[3, 3, 2.6], [3, 3, 3.4]], cell=[H2_BOX_A] * 3, pbc=True)
    engine = QEEngine()
    for key, preset in presets.items():
        engine.write_inputs(atoms, preset, root / key, config=cfg, calculation="relax")
    keys = [key for key in presets if key not in write_only]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda key: engine.run(root / key, config=cfg), keys))
    return root, dict(zip(keys, results))
