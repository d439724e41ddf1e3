"""Gibbs free energy of hydrogenation of an adsorbed Ti atom: ΔG(x; Δμ_H) for TiHx/slab.

    ΔG(x; Δμ_H) = E[TiHx/slab] − E[Ti/slab] − x (½ E[H2] + Δμ_H)

with optional per-species corrections (zero-point or vibrational free energies, eV) added to
the total energies (``corrections_eV={"TiH2": 0.25, "H2": 0.27}``).  Each ΔG(x) is a straight
line in Δμ_H with slope −x; the stable species at a given Δμ_H is the lowest line, so the
stability diagram is the lower envelope of the lines, computed exactly below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from tipsurf.analysis.thermo import T_MAX_K, T_MIN_K, delta_mu_H
from tipsurf.errors import InputError
from tipsurf.structures.adsorbates import hydrogen_count


@dataclass
class GibbsLines:
    """ΔG(x; Δμ_H) = offset_eV[x] − x Δμ_H for each species (one site and slab)."""

    species: list[str]
    x: list[int]
    offset_eV: list[float]
    label: str = ""
    notes: list[str] = field(default_factory=list)

    def delta_G_eV(self, dmu_H_eV: float) -> dict[str, float]:
        """ΔG of every species at one Δμ_H (eV)."""
        return {s: o - x * dmu_H_eV for s, x, o in zip(self.species, self.x, self.offset_eV)}

    def stable_at(self, dmu_H_eV: float) -> str:
        """Species with the lowest ΔG at Δμ_H (ties go to fewer H)."""
        values = self.delta_G_eV(dmu_H_eV)
        return min(self.species, key=lambda s: (round(values[s], 12), hydrogen_count(s)))

    def envelope(self) -> list[dict[str, Any]]:
        """Stability ranges along Δμ_H: ``[{species, from_eV, to_eV}]`` (±inf at the ends)."""
        order = sorted(range(len(self.species)), key=lambda i: (self.x[i], self.offset_eV[i]))
        current = order[0]
        lower = -math.inf
        out = []
        while True:
            best, best_mu = None, math.inf
            for j in order:
                if self.x[j] <= self.x[current]:
                    continue
                mu = (self.offset_eV[j] - self.offset_eV[current]) / (self.x[j] - self.x[current])
                if mu < best_mu - 1e-12 or (abs(mu - best_mu) <= 1e-12 and best is not None and self.x[j] > self.x[best]):
                    best, best_mu = j, mu
            if best is None:
                out.append({"species": self.species[current], "from_eV": lower, "to_eV": math.inf})
                return out
            out.append({"species": self.species[current], "from_eV": lower, "to_eV": best_mu})
            current, lower = best, best_mu

    def transitions(self) -> list[dict[str, Any]]:
        """Transition points along Δμ_H: ``[{from, to, delta_mu_H_eV}]``."""
        env = self.envelope()
        return [{"from": a["species"], "to": b["species"], "delta_mu_H_eV": a["to_eV"]} for a, b in zip(env, env[1:])]

    def never_stable(self) -> list[str]:
        """Species that are the lowest line for no Δμ_H."""
        on = {e["species"] for e in self.envelope()}
        return [s for s in self.species if s not in on]


def gibbs_lines(energies_eV: dict[str, float], corrections_eV: dict[str, float] | None = None, label: str = "") -> GibbsLines:
    """ΔG lines from total energies of Ti/slab, TiHx/slab and the H2 molecule.

    Parameters
    ----------
    energies_eV
        ``{"Ti": E, "TiH": E, ..., "H2": E}``: total energies (eV), adsorbates on the same slab.
    corrections_eV
        Optional additive corrections per species (ZPE, vibrational free energy), eV.
    label
        Free text (site, MgO thickness) carried into outputs.

    Raises
    ------
    InputError
        Missing Ti or H2, non-finite energies, unknown species names or corrections.
    """
    corrections_eV = dict(corrections_eV or {})
    for name in ("Ti", "H2"):
        if name not in energies_eV:
            raise InputError(f"energies lack '{name}'; ΔG needs E[Ti/slab] and E[H2] (eV)")
    unknown = set(corrections_eV) - set(energies_eV)
    if unknown:
        raise InputError(f"corrections given for species without an energy: {sorted(unknown)}")
    corrected = {}
    for name, value in energies_eV.items():
        if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"energy of '{name}' is {value!r}; give a finite total energy in eV")
        corrected[name] = float(value) + float(corrections_eV.get(name, 0.0))
    species = sorted((s for s in corrected if s != "H2"), key=hydrogen_count)
    xs = [hydrogen_count(s) for s in species]
    if len(set(xs)) != len(xs):
        raise InputError("two species with the same hydrogen count; name them Ti, TiH, TiH2, ...")
    half_h2 = 0.5 * corrected["H2"]
    offsets = [corrected[s] - corrected["Ti"] - x * half_h2 for s, x in zip(species, xs)]
    return GibbsLines(species, xs, offsets, label)


def temperature_transitions(lines: GibbsLines, pressure_Pa: float, T_grid_K: np.ndarray | None = None, source: str = "auto") -> list[dict[str, Any]]:
    """Temperatures (at fixed p) where the stable species changes, found by bisection."""
    from scipy.optimize import brentq

    grid = np.geomspace(T_MIN_K, T_MAX_K, 400) if T_grid_K is None else np.asarray(T_grid_K, float)
    out = []
    for tr in lines.transitions():
        target = tr["delta_mu_H_eV"]
        g = np.array([delta_mu_H(T, pressure_Pa, source) - target for T in grid])
        for i in np.nonzero(np.sign(g[:-1]) != np.sign(g[1:]))[0]:
            T = brentq(lambda t: delta_mu_H(t, pressure_Pa, source) - target, grid[i], grid[i + 1], xtol=1e-6)
            out.append({"from": tr["from"], "to": tr["to"], "T_K": float(T), "delta_mu_H_eV": target})
    return sorted(out, key=lambda t: t["T_K"])


def gibbs_report(lines: GibbsLines, temperature_K: float, pressure_Pa: float, source: str = "auto") -> dict[str, Any]:
    """Everything about one set of lines at (T, p), as a JSON-ready dict."""
    dmu = delta_mu_H(temperature_K, pressure_Pa, source)
    env = lines.envelope()
    return {
        "label": lines.label,
        "temperature_K": float(temperature_K),
        "pressure_Pa": float(pressure_Pa),
        "thermo_source": source,
        "delta_mu_H_eV": dmu,
        "delta_G_eV": lines.delta_G_eV(dmu),
        "stable_species": lines.stable_at(dmu),
        "offsets_eV": dict(zip(lines.species, lines.offset_eV)),
        "stability_ranges": [{k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in e.items()} for e in env],
        "transitions": lines.transitions(),
        "temperature_transitions_at_p": temperature_transitions(lines, pressure_Pa, source=source),
        "never_stable": lines.never_stable(),
    }


def species_of_record(meta: dict[str, Any]) -> str | None:
    """Species name from record metadata keys 'species', 'adsorbate', 'molecule' or 'formula'."""
    for key in ("species", "adsorbate", "molecule", "formula"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def energies_from_records(records: Iterable[dict[str, Any]], *, allow_missing: bool = False) -> dict[str, dict[str, float]]:
    """Group converged adsorbate records into ``{label: {species: energy_eV}}``.

    The label joins metadata 'site' and the MgO thickness ('mgo_layers', 'n_mgo' or
    'thickness'); the H2 molecule record (species 'H2', any site) is added to every group.
    Unconverged records and records without a species (bare slabs) are skipped: an
    unconverged calculation never provides an energy.  With ``allow_missing`` a campaign
    with no converged adsorbate gives ``{}`` and one without a converged H2 gives groups
    without 'H2' (for a report of what finished); conflicting records raise either way.
    """
    groups: dict[str, dict[str, float]] = {}
    h2: list[float] = []
    for i, rec in enumerate(records):
        meta = rec.get("metadata") or {}
        species = species_of_record(meta)
        if species is None:
            continue  # bare slabs and other reference calculations carry no species
        if not rec.get("converged") or rec.get("energy_eV") is None:
            continue
        if species == "H2":
            h2.append(float(rec["energy_eV"]))
            continue
        layers = meta.get("mgo_layers", meta.get("n_mgo", meta.get("thickness")))
        label = f"site={meta.get('site', '?')}, mgo_layers={layers if layers is not None else '?'}"
        group = groups.setdefault(label, {})
        if species in group and abs(group[species] - float(rec["energy_eV"])) > 1e-6:
            raise InputError(f"two converged '{species}' records for {label} with different energies; remove the stale one")
        group[species] = float(rec["energy_eV"])
    if not groups and not allow_missing:
        raise InputError("no converged adsorbate records (metadata 'species' Ti, TiH, ...) in the campaign")
    if not h2:
        if allow_missing:
            return groups
        raise InputError("no converged H2 molecule record (metadata species 'H2') in the campaign; ΔG needs E[H2]")
    if max(h2) - min(h2) > 1e-6:
        raise InputError("several H2 records with different energies; keep one H2 reference")
    for group in groups.values():
        group["H2"] = h2[0]
    return groups
