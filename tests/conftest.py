"""Shared test fixtures: the ../shared data folder, real-program markers, isolated config.

Pseudopotentials: with ``../shared/pseudo`` beside the repository (or ``TIPSURF_SHARED``
pointing at a copy) the tests use its GBRV files, as before.  Without it (a plain clone) they
use the pseudopotentials tipsurf generates itself with ld1.x: generated once per test session
(about 5 s for the nine recipes) and copied into each test's own cache, so that the QE engine
takes its normal zero-configuration path (no ``pseudo_dir``: the generated files replace the
preset's map).  Every element of the presets has a recipe (Ag too), so a test that needs an
explicit folder covering all of them (``qe_pseudo_library``) gets a copy of the generated set.

Only tests that read real program outputs of ``../shared/refdata`` skip without ../shared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TIPSURF_SHARED", REPO.parent / "shared"))
PSEUDO_DIR = SHARED / "pseudo"
REFDATA = SHARED / "refdata"


def require_shared(sub: str = "") -> Path:
    """Return ``../shared/<sub>`` or skip the test with the reason."""
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"needs the shared data folder {path} (a checkout of ../shared beside the repo)")
    return path


def require_program(name: str) -> str:
    """Return the path of an installed program or skip the test with the reason."""
    found = shutil.which(name)
    if not found:
        pytest.skip(f"needs {name} on PATH (install Debian quantum-espresso: bash scripts/install.sh)")
    return found


@pytest.fixture
def shared_pseudo_dir() -> Path:
    """``../shared/pseudo`` (GBRV ultrasoft + some pslibrary PAW); only for tests that also
    replay real outputs of ../shared/refdata computed with these files."""
    return require_shared("pseudo")


# ----------------------------------------------------------------------------- pseudopotentials

#: Valence electrons of the GBRV files in ../shared/pseudo (its MANIFEST.md).
GBRV_VALENCE = {"Fe": 16.0, "Co": 17.0, "Mn": 15.0, "W": 14.0, "Ti": 12.0, "H": 1.0, "Mg": 10.0, "O": 6.0, "Ag": 19.0}


def _file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class PseudoSet:
    """Pseudopotentials a test uses: where they are, their file names and valences.

    ``source`` is ``"shared"`` (GBRV in ../shared/pseudo) or ``"generated"`` (tipsurf's ld1.x
    set).  ``explicit`` says whether ``folder`` is meant as the configured ``pseudo_dir``
    (shared, or a library folder), or is the engine's own cache of generated files (then no
    ``pseudo_dir`` is configured and the engine uses its generated map).
    """

    folder: Path
    files: dict[str, str]
    source: str
    explicit: bool
    valence: dict[str, float] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        return self.source == "generated"

    def path(self, element: str) -> Path:
        return self.folder / self.files[element]

    def md5(self, element: str) -> str:
        """md5 of the element's file, computed here (independently of tipsurf)."""
        return _file_md5(self.path(element))

    def config(self, **kwargs: Any):  # noqa: ANN201 - tipsurf.config.Config
        """A Config that makes the QE engine use these files."""
        from tipsurf.config import Config

        if self.explicit:
            return Config(pseudo_dir=self.folder, **kwargs)
        return Config(pseudo_dir=None, cache_dir=self.folder.parent, **kwargs)

    def preset_overrides(self) -> dict[str, Any]:
        """Preset keys naming these files (for an explicit folder; a no-op for the shared GBRV set)."""
        return {"pseudopotentials": dict(self.files)}

    def apply_env(self, mp: pytest.MonkeyPatch) -> None:
        """Point TIPSURF_PSEUDO_DIR / TIPSURF_CACHE_DIR at these files."""
        if self.explicit:
            mp.setenv("TIPSURF_PSEUDO_DIR", str(self.folder))
        else:
            mp.delenv("TIPSURF_PSEUDO_DIR", raising=False)
            mp.setenv("TIPSURF_CACHE_DIR", str(self.folder.parent))


def _preset_map(name: str = "fast") -> dict[str, str]:
    from tipsurf.engines.presets import load_preset

    return dict(load_preset(name, "qe")["pseudopotentials"])


class PseudoProvider:
    """Session-wide source of pseudopotentials (see the module docstring)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        self._generated: PseudoSet | None = None
        self._library: PseudoSet | None = None

    @property
    def shared(self) -> bool:
        return PSEUDO_DIR.is_dir()

    def generated_set(self) -> PseudoSet:
        """Every element with an ld1.x recipe, generated once per session (needs ld1.x)."""
        if self._generated is None:
            require_program("ld1.x")
            from tipsurf.config import Config
            from tipsurf.engines.qe import pseudo_gen

            elements = pseudo_gen.available_recipes()
            folder, files = pseudo_gen.ensure_pseudopotentials(
                elements, Config(), cache_dir=self._factory.mktemp("generated-pseudo") / "pseudo")
            valence = {e: float(pseudo_gen.load_recipe(e)["valence_electrons"]) for e in elements}
            self._generated = PseudoSet(Path(folder), dict(files), "generated", False, valence)
        return self._generated

    def usable(self, cache_dir: Path) -> PseudoSet:
        """Pseudopotentials for the shipped presets' elements with recipes, the engine's normal way.

        Shared: ../shared/pseudo as pseudo_dir.  Otherwise the generated set, copied into
        ``cache_dir/pseudo`` (the engine finds it current and generates nothing).
        """
        if self.shared:
            return PseudoSet(PSEUDO_DIR, _preset_map(), "shared", True, dict(GBRV_VALENCE))
        gen = self.generated_set()
        target = Path(cache_dir) / "pseudo"
        target.mkdir(parents=True, exist_ok=True)
        for name in gen.files.values():
            for src in (gen.folder / name, gen.folder / (name[: -len(".UPF")] + ".provenance.json")):
                shutil.copy2(src, target / src.name)
        return PseudoSet(target, dict(gen.files), "generated", False, dict(gen.valence))

    def library(self) -> PseudoSet:
        """A folder to configure as pseudo_dir holding every element the presets name (Ag too).

        Shared: ../shared/pseudo with the fast preset's map.  Otherwise one session folder with
        a copy of the generated files (every preset element has a recipe).  Read-only: copy
        before editing.
        """
        if self.shared:
            return PseudoSet(PSEUDO_DIR, _preset_map(), "shared", True, dict(GBRV_VALENCE))
        if self._library is None:
            gen = self.generated_set()
            folder = self._factory.mktemp("pseudo-library")
            for name in gen.files.values():
                shutil.copy2(gen.folder / name, folder / name)
            self._library = PseudoSet(folder, dict(gen.files), "generated", True, dict(gen.valence))
        return self._library


@pytest.fixture(scope="session")
def pseudo_provider(tmp_path_factory: pytest.TempPathFactory) -> PseudoProvider:
    """Source of the tests' pseudopotentials (use in module-scoped fixtures)."""
    return PseudoProvider(tmp_path_factory)


@pytest.fixture
def qe_pseudos(pseudo_provider: PseudoProvider, monkeypatch: pytest.MonkeyPatch) -> PseudoSet:
    """Working pseudopotentials for the QE engine, set in the environment of this test.

    ../shared/pseudo as TIPSURF_PSEUDO_DIR when present; otherwise no TIPSURF_PSEUDO_DIR and
    tipsurf's generated set in this test's cache (every element with a recipe, Ag included).
    """
    chosen = pseudo_provider.usable(Path(os.environ["TIPSURF_CACHE_DIR"]))
    chosen.apply_env(monkeypatch)
    return chosen


@pytest.fixture
def qe_pseudo_library(pseudo_provider: PseudoProvider) -> PseudoSet:
    """An explicit pseudo_dir covering every element of the presets (Ag included); env untouched."""
    return pseudo_provider.library()


@pytest.fixture
def refdata_dir() -> Path:
    """``../shared/refdata`` (real VASP and QE outputs)."""
    return require_shared("refdata")


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's config file, cache and launchpad."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TIPSURF_CONFIG", str(home / "config.yaml"))
    monkeypatch.setenv("TIPSURF_CACHE_DIR", str(home / "cache"))
    monkeypatch.delenv("TIPSURF_PSEUDO_DIR", raising=False)
    monkeypatch.delenv("TIPSURF_LAUNCHPAD", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
