"""Vacuum LDOS spin polarization above surface sites (Tersoff–Hamann).

``P(E) = (n↑ − n↓) / (n↑ + n↓)`` where n_σ(r, E) is the local density of states of spin σ at
the point r = (x_site, y_site, z_top + height).  The LDOS is taken per energy window
[E_lo, E_hi] (relative to E_F) as ILDOS / (E_hi − E_lo), in states/(Å³·eV).

Sources
-------
* **Quantum ESPRESSO**: the engine's post-step :func:`tipsurf.engines.qe.pp.qe_ildos_cubes` runs
  ``pp.x`` on a finished spin-polarized ``pw.x`` calculation with ``plot_num = 10`` (ILDOS from
  ``emin`` to ``emax``, absolute energies in eV) and ``spin_component = 1`` (up) / ``2`` (down),
  one cube file per window and spin, and returns the record that names them (with E_F, the
  structure and its metadata); :func:`ldos_from_cubes` reads that record and its cubes and
  interpolates trilinearly (periodic) at the point.  (``tipsurf analyze ldos`` and
  :func:`tipsurf.api.analyze_ldos` do both, :func:`tipsurf.api.volumetric.qe_ldos_polarization`.)
* **VASP**: :func:`vasp_parchg_polarization` reads a folder of ``PARCHG_<Emin>_<Emax>`` files
  (one band-decomposed charge per energy window, ``LPARD``/``EINT`` relative to E_F, ISPIN = 2;
  total block = n↑ + n↓, magnetization block = n↑ − n↓).

Sites are the builders' sites, by name and index (:func:`tipsurf.structures.sites.site_record`):
a calculation written by tipsurf keeps ``atoms.info`` as ``metadata`` of its ``tipsurf_calc.json``
(read by the engines, :func:`tipsurf.engines.record.calc_metadata`, and handed in here as
``info``), whose ``sites`` hold ``{name: [{"xy_A": [x, y], "reference_indices": [...]}, ...]}`` — ``top`` /
``hollow`` on Mn/W(110) (the hollow is the bcc continuation site, a/2 along [001] from a Mn
atom), ``o-top`` / ``bridge`` / ``hollow`` on MgO/Ag(100).  The point is ``height_A`` above the
highest atom of the calculation's structure.  Without such metadata (a calculation not set up
by tipsurf) only ``top`` is defined — above the highest atom — and any other site needs its
lateral position given explicitly (``xy_A``, CLI ``--xy X Y``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tipsurf.analysis.volumetric import HARTREE_EV  # noqa: F401  (re-exported for callers)
from tipsurf.analysis.volumetric import read_cube, read_vasp_volumetric
from tipsurf.atomic import atomic_path, write_json_atomic, write_text_atomic
from tipsurf.errors import InputError
from tipsurf.structures.sites import site_record

CALC_FILE = "tipsurf_calc.json"  # named in messages: where a tipsurf calculation keeps its site records


# --------------------------------------------------------------------------- result table


@dataclass
class LdosTable:
    """Spin-resolved vacuum LDOS per energy window at one point.

    Attributes
    ----------
    windows_eV
        (E_lo, E_hi) relative to E_F, eV, one row per window.
    n_up, n_down
        LDOS at the point, states/(Å³·eV).
    point_A
        Cartesian point (Å).
    site, height_A
        Site name and height above the topmost atom.
    meta
        Provenance (source, E_F, cell integrals of each window per spin, ...).
    """

    windows_eV: np.ndarray
    n_up: np.ndarray
    n_down: np.ndarray
    point_A: np.ndarray
    site: str
    height_A: float
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def energies_eV(self) -> np.ndarray:
        """Window centres E − E_F, eV."""
        return self.windows_eV.mean(axis=1)

    @property
    def polarization(self) -> np.ndarray:
        """P(E) per window; NaN where n↑ + n↓ = 0."""
        tot = self.n_up + self.n_down
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, (self.n_up - self.n_down) / np.where(tot > 0, tot, 1.0), np.nan)

    def polarization_at_fermi(self) -> float:
        """P at E_F: from the window containing E_F, else linearly interpolated n↑, n↓."""
        for k, (lo, hi) in enumerate(self.windows_eV):
            if lo <= 0.0 <= hi:
                return float(self.polarization[k])
        e = self.energies_eV
        if not (e.min() <= 0.0 <= e.max()):
            raise InputError("the energy windows do not reach E_F; include E − E_F = 0 in the range")
        up, dn = np.interp(0.0, e, self.n_up), np.interp(0.0, e, self.n_down)
        return float((up - dn) / (up + dn)) if up + dn > 0 else float("nan")

    def rows(self) -> list[dict[str, float]]:
        """One dict per window with unit-suffixed keys."""
        pol = self.polarization
        return [
            {
                "E_minus_EF_eV": float(self.energies_eV[k]),
                "E_lo_eV": float(lo),
                "E_hi_eV": float(hi),
                "n_up_per_A3_eV": float(self.n_up[k]),
                "n_down_per_A3_eV": float(self.n_down[k]),
                "P": float(pol[k]),
            }
            for k, (lo, hi) in enumerate(self.windows_eV)
        ]

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable record."""
        p_ef: float | None
        try:
            p_ef = self.polarization_at_fermi()
        except InputError:
            p_ef = None
        return {
            "site": self.site,
            "height_A": self.height_A,
            "point_A": [float(x) for x in self.point_A],
            "P_at_EF": p_ef,
            "rows": self.rows(),
            "meta": self.meta,
        }

    def write(self, out_dir: str | Path, stem: str = "ldos") -> list[Path]:
        """Write ``<stem>.csv``, ``<stem>.json`` and ``<stem>.png`` (P(E) and n↑, n↓) atomically."""
        out = Path(out_dir)
        buf = io.StringIO()
        rows = self.rows()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        paths = [write_text_atomic(out / f"{stem}.csv", buf.getvalue()), write_json_atomic(out / f"{stem}.json", self.as_dict())]
        paths.append(self._plot(out / f"{stem}.png"))
        return paths

    def _plot(self, path: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(5, 5))
        e = self.energies_eV
        ax1.plot(e, self.n_up, "o-", label="n↑")
        ax1.plot(e, self.n_down, "s-", label="n↓")
        ax1.set_ylabel("LDOS (states / Å³ eV)")
        ax1.legend()
        ax2.plot(e, self.polarization, "k.-")
        ax2.axhline(0.0, color="0.6", lw=0.8)
        ax2.axvline(0.0, color="0.6", lw=0.8, ls="--")
        ax2.set_xlabel("E − E_F (eV)")
        ax2.set_ylabel("P")
        ax1.set_title(f"{self.site} site, {self.height_A:.2f} Å above the surface")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
        plt.close(fig)
        return path


def energy_windows(emin_eV: float, emax_eV: float, step_eV: float) -> np.ndarray:
    """Contiguous windows of width ``step_eV`` covering [emin, emax] (relative to E_F)."""
    if step_eV <= 0 or emax_eV <= emin_eV:
        raise InputError(f"energy range [{emin_eV}, {emax_eV}] eV with step {step_eV} eV is empty; need emin < emax and step > 0")
    n = max(1, int(round((emax_eV - emin_eV) / step_eV)))
    edges = np.round(np.linspace(emin_eV, emax_eV, n + 1), 9)
    return np.stack([edges[:-1], edges[1:]], axis=1)


# --------------------------------------------------------------------------- geometry


def interpolate_periodic(values: np.ndarray, cell_A: np.ndarray, point_A: np.ndarray) -> float:
    """Trilinear interpolation of periodic grid data at a Cartesian point.

    Grid point (i, j, k) is at ``(i/n1, j/n2, k/n3) @ cell_A``; the data are periodic.
    """
    shape = np.array(values.shape)
    frac = np.asarray(point_A, float) @ np.linalg.inv(cell_A)
    u = (frac % 1.0) * shape
    base = np.floor(u).astype(int)
    t = u - base
    total = 0.0
    for corner in np.ndindex(2, 2, 2):
        c = np.array(corner)
        w = float(np.prod(np.where(c == 1, t, 1.0 - t)))
        idx = tuple((base + c) % shape)
        total += w * float(values[idx])
    return total


def site_xy(
    positions_A: np.ndarray,
    site: str,
    site_index: int = 0,
    info: dict[str, Any] | None = None,
    xy_A: tuple[float, float] | None = None,
) -> tuple[np.ndarray, str]:
    """Lateral position (Å) of a site and where it came from.

    Parameters
    ----------
    positions_A
        Atom positions of the calculation (z is the surface normal).
    site, site_index
        Site name and index as the surface builder recorded them in ``info['sites']``.
    info
        ``atoms.info`` of a tipsurf structure, or the ``metadata`` of its ``tipsurf_calc.json``.
    xy_A
        Explicit lateral position; overrides the site records.

    Returns
    -------
    (numpy.ndarray, str)
        ``[x, y]`` and its source: ``"explicit"``, ``"site records"`` or ``"highest atom"``.

    Raises
    ------
    InputError
        Unknown site or index in the records, a site other than ``top`` without records, or a
        tip–surface junction (its highest atom is the tip, not the surface).
    """
    if info is not None and info.get("kind") == "junction":
        raise InputError(
            "this calculation is a tip-surface junction (metadata kind 'junction'): the vacuum LDOS is taken "
            "above a bare surface; run it on the slab calculation"
        )
    if xy_A is not None:
        return np.array([float(xy_A[0]), float(xy_A[1])]), "explicit"
    if info is not None and info.get("sites") is not None:
        return np.array(site_record(info, site, site_index)["xy_A"]), "site records"
    if site == "top" and site_index == 0:
        pos = np.asarray(positions_A, float)
        return pos[int(np.argmax(pos[:, 2])), :2].copy(), "highest atom"
    raise InputError(
        f"site {site} {site_index} needs the site records of a structure built by tipsurf (metadata 'sites' "
        f"in {CALC_FILE}), which this calculation lacks; give the lateral position explicitly (--xy X Y)"
    )


def site_point(
    positions_A: np.ndarray,
    site: str,
    height_A: float,
    site_index: int = 0,
    info: dict[str, Any] | None = None,
    xy_A: tuple[float, float] | None = None,
) -> tuple[np.ndarray, str]:
    """Cartesian point ``height_A`` above the highest atom over a site, and the site's source.

    See :func:`site_xy` for the parameters and the source strings.
    """
    pos = np.asarray(positions_A, float)
    xy, source = site_xy(pos, site, site_index, info, xy_A)
    return np.array([xy[0], xy[1], float(pos[:, 2].max()) + height_A]), source


# --------------------------------------------------------------------------- QE


def ldos_from_cubes(
    record: dict[str, Any],
    site: str = "top",
    height_A: float = 3.0,
    xy_A: tuple[float, float] | None = None,
    site_index: int = 0,
) -> LdosTable:
    """Vacuum spin polarization from the ILDOS cubes of a QE calculation, one per window and spin.

    Parameters
    ----------
    record
        What :func:`tipsurf.engines.qe.pp.qe_ildos_cubes` returned (or wrote as
        ``ildos_cubes.json``): ``fermi_eV``, ``positions_A``, ``metadata`` and ``windows``
        (``E_lo_eV``, ``E_hi_eV``, ``up_cube``, ``down_cube``).
    site, site_index, height_A, xy_A
        Where to evaluate: the builder's site ``site`` number ``site_index`` from the record's
        ``metadata``, ``height_A`` above the highest atom (see :func:`site_xy`); ``xy_A``
        overrides the lateral position.

    Returns
    -------
    LdosTable
        With ``meta["cell_states_up"/"cell_states_down"]``: the cell integral of each ILDOS
        (number of states in the window per spin), for checks against the band energies.
    """
    point, xy_source = site_point(np.asarray(record["positions_A"], float), site, height_A, site_index,
                                  record.get("metadata"), xy_A)
    windows = np.array([[w["E_lo_eV"], w["E_hi_eV"]] for w in record["windows"]], dtype=float).reshape(-1, 2)
    n = np.zeros((2, len(windows)))
    cell_states = np.zeros((2, len(windows)))
    for k, window in enumerate(record["windows"]):
        width = float(window["E_hi_eV"]) - float(window["E_lo_eV"])
        for s, key in enumerate(("up_cube", "down_cube")):
            grid, values = read_cube(window[key])
            n[s, k] = interpolate_periodic(values, grid.cell_A, point) / width
            cell_states[s, k] = grid.integrate(values)
    return LdosTable(
        windows_eV=windows,
        n_up=np.clip(n[0], 0.0, None),
        n_down=np.clip(n[1], 0.0, None),
        point_A=point,
        site=site,
        height_A=height_A,
        meta={
            "source": str(record.get("calc_dir")),
            "code": record.get("code", "qe pp.x plot_num=10"),
            "site_index": int(site_index),
            "site_xy_source": xy_source,
            "fermi_eV": float(record["fermi_eV"]),
            "cell_states_up": cell_states[0].tolist(),
            "cell_states_down": cell_states[1].tolist(),
            "raw_n_up_min": float(n[0].min()),
            "raw_n_down_min": float(n[1].min()),
        },
    )


# --------------------------------------------------------------------------- VASP

_PARCHG_NAME = re.compile(r"^PARCHG[_.]([-+]?\d*\.?\d+)_([-+]?\d*\.?\d+)$")


def vasp_parchg_polarization(
    directory: str | Path, site: str = "top", height_A: float = 3.0, xy_A: tuple[float, float] | None = None,
    site_index: int = 0, info: dict[str, Any] | None = None,
) -> LdosTable:
    """Vacuum spin polarization from VASP PARCHG files, one per energy window.

    Files are named ``PARCHG_<Emin>_<Emax>`` (E − E_F in eV, e.g. ``PARCHG_-0.10_0.10``) and
    must be spin-polarized (total + magnetization blocks).  The site is looked up as in
    :func:`ldos_from_cubes`, in ``info``: the structure metadata of the calculation
    (:func:`tipsurf.engines.record.calc_metadata` of the folder).
    """
    folder = Path(directory)
    entries = []
    for p in sorted(folder.glob("PARCHG*")):
        match = _PARCHG_NAME.match(p.name)
        if not match:
            raise InputError(f"{p.name}: name PARCHG files PARCHG_<Emin>_<Emax> (E - E_F in eV), e.g. PARCHG_-0.10_0.10")
        entries.append((float(match.group(1)), float(match.group(2)), p))
    if not entries:
        raise InputError(f"{folder}: no PARCHG_<Emin>_<Emax> files")
    entries.sort()
    n_up, n_dn, windows, point, xy_source = [], [], [], None, ""
    for lo, hi, p in entries:
        if hi <= lo:
            raise InputError(f"{p.name}: Emax must be above Emin")
        grid = read_vasp_volumetric(p)
        if grid.spin_muB_per_A3 is None:
            raise InputError(f"{p.name} has no magnetization block; run VASP with ISPIN = 2")
        if point is None:
            point, xy_source = site_point(grid.positions_A, site, height_A, site_index, info, xy_A)
        tot = interpolate_periodic(grid.total_e_per_A3, grid.cell_A, point)
        mag = interpolate_periodic(grid.spin_muB_per_A3, grid.cell_A, point)
        n_up.append(max(0.0, 0.5 * (tot + mag)) / (hi - lo))
        n_dn.append(max(0.0, 0.5 * (tot - mag)) / (hi - lo))
        windows.append((lo, hi))
    return LdosTable(np.array(windows), np.array(n_up), np.array(n_dn), point, site, height_A,
                     meta={"source": str(folder), "code": "vasp PARCHG", "site_index": int(site_index),
                           "site_xy_source": xy_source})
