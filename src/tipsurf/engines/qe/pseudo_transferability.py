"""Transferability of a generated pseudopotential: ``ld1.x`` tests against the all-electron atom.

:func:`check_transferability` runs ``ld1.x`` once more on a generated file (``iswitch=2``,
frozen core): total-energy differences and eigenvalues of the pseudo-atom against the
all-electron atom in the recipe's ``test_configs`` (:mod:`tipsurf.engines.qe.pseudo_gen`), and
the logarithmic derivatives of both at a radius beyond every ``rcutus``, whose poles must match
(an extra pseudo pole is a ghost state).  :func:`transferability_problems` turns that report
into a list of failures.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from tipsurf.engines.qe.pseudo_gen import LD1_FATAL, fortran_namelist, ld1_input_namelist, ld1_version, load_recipe, resolve_ld1_command, run_ld1
from tipsurf.errors import CalculationFailedError, InputError

__all__ = ["check_transferability", "ld1_test_input", "transferability_problems"]


_EIG_ROW = re.compile(
    r"^\s*\d+\s+\d+\s+(\d[A-Z])\s+\d\(\s*([-\d.]+)\)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+(?:[Ee][-+]?\d+)?)\s*$",
    re.M,
)


def ld1_test_input(
    recipe: dict[str, Any],
    upf: str | Path,
    configs: list[str],
    *,
    logder_r_bohr: float,
    logder_window_Ry: tuple[float, float] = (-3.0, 3.0),
    logder_step_Ry: float = 0.005,
) -> str:
    """Text of an ``ld1.x`` test input (``iswitch=2``, frozen core) of ``upf`` in ``configs``.

    The first configuration is the reference of the energy differences; the logarithmic
    derivatives (all-electron ``ld1<i>.dlog`` and pseudo ``ld1<i>ps.dlog`` per configuration i,
    ``ld1.dlog``/``ld1ps.dlog`` for a single one) are computed at
    ``logder_r_bohr`` for every angular momentum up to the largest pseudized one.
    """
    nld = max(int(ch["l"]) for ch in recipe["channels"]) + 1
    general = {
        **ld1_input_namelist(recipe, 2),
        "rlderiv": float(logder_r_bohr),
        "eminld": float(logder_window_Ry[0]),
        "emaxld": float(logder_window_Ry[1]),
        "deld": float(logder_step_Ry),
        "nld": nld,
    }
    test: dict[str, Any] = {"file_pseudo": str(upf), "nconf": len(configs), "frozen_core": True}
    test.update({f"configts({i})": config for i, config in enumerate(configs, 1)})
    return "\n".join(fortran_namelist("input", general) + fortran_namelist("test", test)) + "\n"


def _parse_ld1_tests(output: str, configs: list[str]) -> list[dict[str, Any]]:
    blocks = output.split("Testing the pseudopotential")[1:]
    if len(blocks) != len(configs):
        raise CalculationFailedError(f"ld1.x tested {len(blocks)} of {len(configs)} configurations")
    rows = []
    for config, block in zip(configs, blocks):
        block = block.split("End of pseudopotential test")[0]
        eig = [
            {"state": m.group(1), "occ": float(m.group(2)), "e_ae_Ry": float(m.group(3)), "e_ps_Ry": float(m.group(4))}
            for m in _EIG_ROW.finditer(block)
        ]
        ae = re.search(r"dEtot_ae =\s*(-?[\d.]+)", block)
        ps = re.search(r"dEtot_ps =\s*(-?[\d.]+)", block)
        row: dict[str, Any] = {
            "config": config,
            "eigenvalues": eig,
            "max_eig_error_mRy": max((abs(e["e_ae_Ry"] - e["e_ps_Ry"]) * 1e3 for e in eig), default=None),
            "dEtot_ae_Ry": float(ae.group(1)) if ae else 0.0,
            "dEtot_ps_Ry": float(ps.group(1)) if ps else 0.0,
        }
        row["dEtot_error_mRy"] = (row["dEtot_ps_Ry"] - row["dEtot_ae_Ry"]) * 1e3
        rows.append(row)
    return rows


def _logder_poles(path: Path) -> tuple[list[float], dict[int, list[float]]]:
    """Energies (Ry) of the poles of each l's logarithmic derivative in an ld1 ``.dlog`` file.

    At fixed r the logarithmic derivative decreases with energy between poles and jumps from
    -inf to +inf at each one, so a pole is where consecutive samples increase.
    """
    rows = [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]
    energies = [row[0] for row in rows]
    poles: dict[int, list[float]] = {}
    for l in range(len(rows[0]) - 1):
        values = [row[l + 1] for row in rows]
        poles[l] = [
            round(0.5 * (energies[i] + energies[i + 1]), 3) for i in range(len(values) - 1) if values[i + 1] > values[i]
        ]
    return energies, poles


def check_transferability(
    element: str,
    upf: str | Path,
    *,
    configs: list[str] | None = None,
    ld1_command: list[str] | None = None,
    logder_r_bohr: float | None = None,
    logder_window_Ry: tuple[float, float] = (-3.0, 3.0),
) -> dict[str, Any]:
    """Test a generated pseudopotential of ``element`` with ``ld1.x`` against the all-electron atom.

    Parameters
    ----------
    element
        Chemical symbol with a shipped recipe (its ``test_configs`` are the default configurations).
    upf
        The generated UPF file.
    configs
        Valence configurations to test, the generation configuration first.
    ld1_command
        Argument list running ``ld1.x``; default from the configuration.
    logder_r_bohr
        Radius of the logarithmic derivatives; default 0.3 bohr beyond the largest ``rcutus``.
    logder_window_Ry
        Energy window of the logarithmic derivatives.

    Returns
    -------
    dict
        ``configs`` (per configuration: ``dEtot_ae_Ry``, ``dEtot_ps_Ry``, ``dEtot_error_mRy``,
        ``max_eig_error_mRy`` and the eigenvalues) and ``logder`` (``r_bohr``, window, poles of
        the all-electron and pseudo logarithmic derivatives per l).

    Raises
    ------
    InputError
        No recipe, or neither ``configs`` nor the recipe's ``test_configs``.
    CalculationFailedError
        ``ld1.x`` failed.
    """
    recipe = load_recipe(element)
    configs = list(configs or recipe.get("test_configs") or [])
    if not configs:
        raise InputError(f"recipe for {element} lists no test_configs; pass configs")
    if logder_r_bohr is None:
        logder_r_bohr = round(max(float(ch["rcutus"]) for ch in recipe["channels"]) + 0.3, 2)
    command = resolve_ld1_command(ld1_command)
    upf = Path(upf).resolve()
    text = ld1_test_input(recipe, upf, configs, logder_r_bohr=logder_r_bohr, logder_window_Ry=logder_window_Ry)
    with tempfile.TemporaryDirectory(prefix=f"ld1_test_{element}_") as tmp:
        work = Path(tmp)
        proc = run_ld1(command, text, work)
        output = proc.stdout + proc.stderr
        problems = sorted({m.group(0) for m in LD1_FATAL.finditer(output)})
        if proc.returncode != 0 or problems:
            detail = "; ".join(problems) or f"exit code {proc.returncode}"
            raise CalculationFailedError(f"ld1.x failed to test the {element} pseudopotential ({detail})")
        rows = _parse_ld1_tests(output, configs)
        stem = "ld1" if len(configs) == 1 else "ld11"  # ld1.x numbers the files per configuration
        try:
            _, ae_poles = _logder_poles(work / f"{stem}.dlog")
            _, ps_poles = _logder_poles(work / f"{stem}ps.dlog")
        except (OSError, ValueError, IndexError):
            raise CalculationFailedError(f"ld1.x wrote no logarithmic derivatives for {element}") from None
    return {
        "element": element,
        "upf": str(upf),
        "configs": rows,
        "logder": {
            "r_bohr": logder_r_bohr,
            "window_Ry": list(logder_window_Ry),
            "ae_poles_Ry": ae_poles,
            "ps_poles_Ry": ps_poles,
        },
        "ld1_version": ld1_version(output),
    }


def transferability_problems(
    report: dict[str, Any],
    *,
    max_dE_mRy: float = 2.0,
    max_eig_mRy: float = 5.0,
    pole_tol_Ry: float = 0.15,
) -> list[str]:
    """Failures of a :func:`check_transferability` report (empty if the pseudopotential passes).

    Energy differences between configurations within ``max_dE_mRy``, eigenvalues within
    ``max_eig_mRy``, and every pole of either logarithmic derivative (away from the window's
    edges by ``pole_tol_Ry``) matched by one of the other within ``pole_tol_Ry``: a pseudo pole
    without an all-electron partner is a ghost state, a missing one a lost state.
    """
    problems = []
    for row in report["configs"]:
        if abs(row["dEtot_error_mRy"]) > max_dE_mRy:
            problems.append(f"{row['config']}: energy difference off by {row['dEtot_error_mRy']:+.2f} mRy")
        if row["max_eig_error_mRy"] is None or row["max_eig_error_mRy"] > max_eig_mRy:
            problems.append(f"{row['config']}: eigenvalue error {row['max_eig_error_mRy']} mRy")
    low, high = report["logder"]["window_Ry"]
    ae_all, ps_all = report["logder"]["ae_poles_Ry"], report["logder"]["ps_poles_Ry"]
    for l in sorted(ae_all, key=int):
        ae, ps = ae_all[l], ps_all.get(l, [])
        for mine, other, what, where in ((ps, ae, "ghost state", "pseudo"), (ae, ps, "missing state", "all-electron")):
            for pole in mine:
                inside = low + pole_tol_Ry < pole < high - pole_tol_Ry
                if inside and not any(abs(pole - x) <= pole_tol_Ry for x in other):
                    problems.append(f"l={l}: {what} (log-derivative pole at {pole:+.2f} Ry only in the {where} atom)")
    return problems
