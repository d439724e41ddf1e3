"""Analysis of stored result records and output files (never of running workflows).

Modules: ``exchange`` (E_ex/F_ex tables with spin-flip guard), ``thermo`` (H2 thermochemistry,
Δμ_H(T, p)), ``gibbs`` (ΔG of hydrogenation, stability envelope), ``fits`` (exponential
decay fits), ``esr`` (ESR-STM resonance maps), ``sader_jarvis`` (Δf → force), ``export`` (CSV/
JSON/NPZ, atomic), ``plots`` (PNG), ``bader``/``volumetric``/``ldos`` (volumetric analyses).
Records are plain dicts from :meth:`tipsurf.engines.record.CalcResult.as_dict`.
"""
