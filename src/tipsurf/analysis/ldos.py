"""Vacuum LDOS spin polarization above surface sites (Tersoff–Hamann).

``P(E) = (n↑ − n↓) / (n↑ + n↓)`` where n_σ(r, E) is the local density of states of spin σ at
the point r = (x_site, y_site, z_top + height).  The LDOS is taken per energy window
[E_lo, E_hi] (relative to E_F) as ILDOS / (E_hi − E_lo), in states/(Å³·eV).

Sources
-------
* **Quantum ESPRESSO**: :func:`qe_ldos_polarization` runs ``pp.x`` on a finished spin-polarized
  ``pw.x`` calculation with ``plot_num = 10`` (ILDOS from ``emin`` to ``emax``, absolute
  energies in eV) and ``spin_component = 1`` (up) / ``2`` (down), writes each as a cube file
  (``iflag = 3, output_format = 6``) and interpolates it trilinearly (periodic) at the point.
  The calculation needs its wavefunctions on disk (pw.x ``disk_io`` not ``'none'``/``'nowf'``).
* **VASP**: :func:`vasp_parchg_polarization` reads a folder of ``PARCHG_<Emin>_<Emax>`` files
  (one band-decomposed charge per energy window, ``LPARD``/``EINT`` relative to E_F, ISPIN = 2;
  total block = n↑ + n↓, magnetization block = n↑ − n↓).

Sites: ``top`` = above the topmost atom; ``hollow`` = the in-plane point farthest from every
atom of the top layer (atoms within 0.5 Å of the highest z), i.e. the deepest hollow.  Explicit
``xy_A`` overrides both; a ``tipsurf_calc.json`` in the QE folder with
``{"sites": {"top": [x, y], "hollow": [x, y]}}`` (Å) is used when present.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tipsurf.analysis.volumetric import HARTREE_EV  # noqa: F401  (re-exported for callers)
from tipsurf.analysis.volumetric import QeCalc, read_cube, read_qe_calc, read_vasp_volumetric, run_pp_cube
from tipsurf.atomic import atomic_path, write_json_atomic, write_text_atomic
from tipsurf.errors import InputError

TOP_LAYER_TOL_A = 0.5


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


def site_point(
    positions_A: np.ndarray, cell_A: np.ndarray, site: str, height_A: float, xy_A: tuple[float, float] | None = None
) -> np.ndarray:
    """Cartesian point ``height_A`` above the topmost atom, over a top or hollow site.

    Parameters
    ----------
    positions_A, cell_A
        Structure (z is the surface normal; the surface is the top of the slab).
    site
        ``"top"`` or ``"hollow"`` (ignored when ``xy_A`` is given).
    height_A
        Height above the highest atom, Å.
    xy_A
        Explicit lateral position, Å.
    """
    pos = np.asarray(positions_A, float)
    z_top = float(pos[:, 2].max())
    if xy_A is not None:
        return np.array([xy_A[0], xy_A[1], z_top + height_A])
    top = pos[pos[:, 2] > z_top - TOP_LAYER_TOL_A]
    if site == "top":
        atom = top[np.argmax(top[:, 2])]
        return np.array([atom[0], atom[1], z_top + height_A])
    if site != "hollow":
        raise InputError(f"site {site!r} is not known; use top or hollow (or give explicit x, y)")
    a, b = np.asarray(cell_A, float)[0, :2], np.asarray(cell_A, float)[1, :2]
    g = np.linspace(0.0, 1.0, 121)[:-1]
    fu, fv = np.meshgrid(g, g, indexing="ij")
    pts = fu.ravel()[:, None] * a + fv.ravel()[:, None] * b
    shifts = np.array([i * a + j * b for i in (-1, 0, 1) for j in (-1, 0, 1)])
    images = (top[:, None, :2] + shifts[None, :, :]).reshape(-1, 2)
    dmin = np.min(np.linalg.norm(pts[:, None, :] - images[None, :, :], axis=-1), axis=1)
    best = pts[int(np.argmax(dmin))]
    return np.array([best[0], best[1], z_top + height_A])


# --------------------------------------------------------------------------- QE


def run_pp_ildos(calc: QeCalc, emin_abs_eV: float, emax_abs_eV: float, spin_component: int, work_dir: Path, tag: str) -> Path:
    """Run pp.x for the ILDOS of one spin between absolute energies; return the cube file.

    Parameters
    ----------
    calc
        The finished calculation.
    emin_abs_eV, emax_abs_eV
        Absolute energy window (eV), as pp.x expects.
    spin_component
        1 = spin up, 2 = spin down (0 = both).
    work_dir
        Where the pp.x input, log and cube are written.
    tag
        File-name stem for this run.
    """
    params = {"plot_num": 10, "emin": round(emin_abs_eV, 8), "emax": round(emax_abs_eV, 8), "spin_component": spin_component}
    return run_pp_cube(calc, params, work_dir, tag)


def _site_from_metadata(calc_dir: Path, site: str) -> tuple[float, float] | None:
    meta = calc_dir / "tipsurf_calc.json"
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text())
    except json.JSONDecodeError:
        return None
    xy = ((data.get("metadata") or {}).get("sites") or data.get("sites") or {}).get(site)
    return (float(xy[0]), float(xy[1])) if xy is not None and len(xy) >= 2 else None


def qe_ldos_polarization(
    calc_dir: str | Path,
    windows_eV: np.ndarray,
    site: str = "top",
    height_A: float = 3.0,
    work_dir: str | Path | None = None,
    xy_A: tuple[float, float] | None = None,
    keep_cubes: bool = False,
) -> LdosTable:
    """Vacuum spin polarization from a finished spin-polarized pw.x run (pp.x ILDOS per spin).

    Parameters
    ----------
    calc_dir
        Folder with the pw.x input and (via its outdir) the saved wavefunctions.
    windows_eV
        (E_lo, E_hi) windows relative to E_F, eV (see :func:`energy_windows`).
    site, height_A, xy_A
        Where to evaluate (see :func:`site_point`).
    work_dir
        Scratch folder for pp.x (default ``<calc_dir>/ldos_pp``).
    keep_cubes
        Keep the ILDOS cube files (they can be large).

    Returns
    -------
    LdosTable
        With ``meta["cell_states_up"/"cell_states_down"]``: the cell integral of each ILDOS
        (number of states in the window per spin), for checks against the band energies.
    """
    calc = read_qe_calc(calc_dir)
    if calc.nspin != 2:
        raise InputError(f"{calc.calc_dir}: not a spin-polarized (nspin=2) calculation; spin polarization needs LSDA")
    windows = np.asarray(windows_eV, dtype=float).reshape(-1, 2)
    wdir = Path(work_dir) if work_dir is not None else calc.calc_dir / "ldos_pp"
    xy = xy_A if xy_A is not None else _site_from_metadata(calc.calc_dir, site)
    point = site_point(calc.positions_A, calc.cell_A, site, height_A, xy)
    n = np.zeros((2, len(windows)))
    cell_states = np.zeros((2, len(windows)))
    for k, (lo, hi) in enumerate(windows):
        for s in (0, 1):
            cube = run_pp_ildos(calc, calc.fermi_eV + lo, calc.fermi_eV + hi, s + 1, wdir, f"ildos_w{k:03d}_s{s + 1}")
            grid, values = read_cube(cube)
            n[s, k] = interpolate_periodic(values, grid.cell_A, point) / (hi - lo)
            cell_states[s, k] = grid.integrate(values)
            if not keep_cubes:
                cube.unlink(missing_ok=True)
    return LdosTable(
        windows_eV=windows,
        n_up=np.clip(n[0], 0.0, None),
        n_down=np.clip(n[1], 0.0, None),
        point_A=point,
        site=site,
        height_A=height_A,
        meta={
            "source": str(calc.calc_dir),
            "code": "qe pp.x plot_num=10",
            "fermi_eV": calc.fermi_eV,
            "cell_states_up": cell_states[0].tolist(),
            "cell_states_down": cell_states[1].tolist(),
            "raw_n_up_min": float(n[0].min()),
            "raw_n_down_min": float(n[1].min()),
        },
    )


# --------------------------------------------------------------------------- VASP

_PARCHG_NAME = re.compile(r"^PARCHG[_.]([-+]?\d*\.?\d+)_([-+]?\d*\.?\d+)$")


def vasp_parchg_polarization(
    directory: str | Path, site: str = "top", height_A: float = 3.0, xy_A: tuple[float, float] | None = None
) -> LdosTable:
    """Vacuum spin polarization from VASP PARCHG files, one per energy window.

    Files are named ``PARCHG_<Emin>_<Emax>`` (E − E_F in eV, e.g. ``PARCHG_-0.10_0.10``) and
    must be spin-polarized (total + magnetization blocks).
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
    n_up, n_dn, windows, point = [], [], [], None
    for lo, hi, p in entries:
        if hi <= lo:
            raise InputError(f"{p.name}: Emax must be above Emin")
        grid = read_vasp_volumetric(p)
        if grid.spin_muB_per_A3 is None:
            raise InputError(f"{p.name} has no magnetization block; run VASP with ISPIN = 2")
        if point is None:
            point = site_point(grid.positions_A, grid.cell_A, site, height_A, xy_A)
        tot = interpolate_periodic(grid.total_e_per_A3, grid.cell_A, point)
        mag = interpolate_periodic(grid.spin_muB_per_A3, grid.cell_A, point)
        n_up.append(max(0.0, 0.5 * (tot + mag)) / (hi - lo))
        n_dn.append(max(0.0, 0.5 * (tot - mag)) / (hi - lo))
        windows.append((lo, hi))
    return LdosTable(np.array(windows), np.array(n_up), np.array(n_dn), point, site, height_A,
                     meta={"source": str(folder), "code": "vasp PARCHG"})
