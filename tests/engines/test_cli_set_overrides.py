"""One ``--set KEY=VALUE`` parser for every command (issue 12, item 9).

``tipsurf inputs --set conv_thr_Ry=1e-5`` used to be refused (YAML 1.1 reads ``1e-5`` as text)
while ``tipsurf scan --set`` accepted it, and only ``inputs`` understood dotted keys: the two
commands had their own parsers.  Here both commands get the same overrides: the same ones must
work, and the same bad ones must fail with the same one-line error and write nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ase import Atoms
from ase.io import write

from tipsurf.cli import main
from tipsurf.cli.overrides import parse_set_options, preset_overrides
from tipsurf.errors import InputError

# A one-atom tip over a one-atom-thick Mn/W(110) cell: only inputs are written, nothing runs.
TINY_SCAN = ["--tip", "Fe", "--site", "top", "--tip-layers", "1", "--w-layers", "1", "--size", "1x1", "--one-sided",
             "--slab-vacuum", "5", "--vacuum-above-tip", "5", "--distances", "5.0"]
COMMON = ["--set", "ecutwfc_Ry=20", "--set", "ecutrho_Ry=160", "--set", "dipole_correction=false"]

ACCEPTED = {
    "exponent-without-dot": ["conv_thr_Ry=3e-7", "conv_thr_Ry_per_atom=null"],
    "dotted-key": ["kpoints.mesh=[1,1,1]"],
    "flow-mapping": ["kpoints={mesh: [1, 1, 1]}", "degauss_Ry=2E-2"],
    "empty-value-removes": ["conv_thr_Ry_per_atom=", "mixing_beta=0.3"],
}
REJECTED = {
    "no-equals": ["foo"],
    "empty-key": ["=1"],
    "empty-key-part": ["kpoints..mesh=[1,1,1]"],
    "bad-yaml": ["ecutwfc_Ry=[1"],
    "dotted-into-scalar": ["kpoints=1", "kpoints.mesh=[1,1,1]"],
    "negative-cutoff": ["ecutwfc_Ry=-5"],
    "unknown-key": ["mixing_bet=0.1"],
    "text-for-number": ["conv_thr_Ry=abc"],
}


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


@pytest.fixture
def qe_env(qe_pseudos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Working pseudopotentials (../shared GBRV or tipsurf's generated set) and a pinned QE version (no pw.x)."""
    (tmp_path / "config.yaml").write_text('qe_version: "6.7"\n')
    monkeypatch.setenv("TIPSURF_CONFIG", str(tmp_path / "config.yaml"))
    atoms = Atoms("FeCo", positions=[[0, 0, 0], [1.425, 1.425, 1.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([3.0, 2.0])
    write(str(tmp_path / "feco.xyz"), atoms, format="extxyz")
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _inputs(root: Path, items: list[str], label: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    argv = ["inputs", "--code", "qe", "--preset", "fast", str(root / "feco.xyz"), "-o", str(root / f"calc-{label}")]
    return _run(argv + ["--set", "kpoints={mesh: [1, 1, 1]}"] + _sets(items), capsys)


def _scan(root: Path, items: list[str], label: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    argv = ["scan", *TINY_SCAN, *COMMON, "--set", "kpoints={mesh: [1, 1, 1]}", *_sets(items),
            "--name", f"scan-{label}", "--project", str(root / "project")]
    return _run(argv, capsys)


def _store_digest(root: Path) -> str:
    store = root / "project" / ".tipsurf" / "launchpad.json"
    return hashlib.sha256(store.read_bytes()).hexdigest() if store.is_file() else "absent"


@pytest.mark.parametrize("label", list(ACCEPTED))
def test_inputs_and_scan_accept_the_same_overrides(qe_env: Path, label: str, capsys: pytest.CaptureFixture[str]) -> None:
    items = ACCEPTED[label]
    rc, _, err = _inputs(qe_env, items, label, capsys)
    assert rc == 0, err
    rc, out, err = _scan(qe_env, items, label, capsys)
    assert rc == 0, err
    assert "added: " in out
    if label == "exponent-without-dot":  # the case of the issue: 3e-7 is a number
        assert "conv_thr = 3d-07" in (qe_env / f"calc-{label}" / "pw.in").read_text()


@pytest.mark.parametrize("label", list(REJECTED))
def test_inputs_and_scan_reject_the_same_overrides_alike(qe_env: Path, label: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    items = REJECTED[label]
    before = _store_digest(qe_env)
    rc_inputs, _, err_inputs = _inputs(qe_env, items, label, capsys)
    rc_scan, _, err_scan = _scan(qe_env, items, label, capsys)
    assert rc_inputs != 0 and rc_scan != 0
    for err in (err_inputs, err_scan):
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert err_inputs == err_scan
    assert not (qe_env / f"calc-{label}").exists()
    assert _store_digest(qe_env) == before


def test_every_command_uses_the_one_parser() -> None:
    import tipsurf.cli.calc as calc
    import tipsurf.cli.campaign as campaign

    assert campaign.preset_overrides is preset_overrides
    assert not hasattr(calc, "_parse_overrides")


def test_parse_set_options_values_and_nesting(tmp_path: Path) -> None:
    got = parse_set_options(["conv_thr_Ry=1e-5", "kpoints.mesh=[2, 2, 1]", "kpoints.gamma_centred=false",
                             "incar.ISPIN=1", "name='1e-5'", "degauss_Ry=", "mixing_beta=.5E-1"])
    assert got == {"conv_thr_Ry": 1e-5, "kpoints": {"mesh": [2, 2, 1], "gamma_centred": False},
                   "incar": {"ISPIN": 1}, "name": "1e-5", "degauss_Ry": None, "mixing_beta": 0.05}
    assert isinstance(got["conv_thr_Ry"], float)
    # --overrides FILE first, --set on top (dotted keys merge into the file's mappings).
    (tmp_path / "o.yaml").write_text("incar: {ENCUT: 500, ISPIN: 2}\nkpoints: {mesh: [3, 3, 1]}\n")
    merged = preset_overrides(["incar.ISPIN=1"], tmp_path / "o.yaml")
    assert merged == {"incar": {"ENCUT": 500, "ISPIN": 1}, "kpoints": {"mesh": [3, 3, 1]}}
    with pytest.raises(InputError, match="not valid YAML") as err:
        parse_set_options(["x=!!python/object/apply:os.system ['true']"])
    assert "\n" not in str(err.value)
