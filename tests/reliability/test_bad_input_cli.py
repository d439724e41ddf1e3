"""Bad input through the command line: one-line error, non-zero exit, no traceback, no write.

Every case runs ``tipsurf ...`` in-process inside a scratch project that holds a real
embedded launchpad (one campaign already stored).  The whole project folder (launchpad store
included) is snapshotted (sha256 + mtime of every file) before and after: a bad input must
change nothing.  An uncaught exception (what would be a traceback) fails the case.
A few cases are repeated through the installed ``tipsurf`` script (test_script_*).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reliability_helpers import REFDATA, assert_one_line_error, diff_snapshots, snapshot

GOOD_XYZ = "h2.xyz"


def _write_inputs(root: Path, library) -> None:  # noqa: ANN001 - conftest.PseudoSet
    """Input files shared by the cases (written before the snapshot).

    The broken pseudopotential folders hold real files of the test library (../shared GBRV or
    tipsurf's generated set) under the name the fast preset gives H: an O file, and a cut H file.
    """
    from tipsurf.engines.presets import load_preset
    from tipsurf.structures import build_molecule, write_structure

    write_structure(build_molecule("H2", box_A=6.0), root / GOOD_XYZ)
    from ase import Atoms

    write_structure(Atoms("Ti", positions=[[3.0, 3.0, 3.0]], cell=[6.0, 6.0, 6.0], pbc=True), root / "ti.xyz")
    (root / "garbage.xyz").write_text("garbage\nxx\n")
    (root / "empty.xyz").write_text("")
    (root / "pseudo_empty").mkdir()
    wrong = root / "pseudo_wrong"
    wrong.mkdir()
    trunc = root / "pseudo_trunc"
    trunc.mkdir()
    h_name = load_preset("fast", "qe")["pseudopotentials"]["H"]
    shutil.copy(library.path("O"), wrong / h_name)
    (trunc / h_name).write_bytes(library.path("H").read_bytes()[:3000])
    presets = {
        "p_badyaml.yaml": "code: qe\necutwfc_Ry: [1\n",
        "p_string.yaml": "just a string\n",
        "p_nocode.yaml": "ecutwfc_Ry: 30\n",
        "p_missing_upf.yaml": "code: qe\npseudopotentials: {H: missing.UPF}\n",
        "p_no_h.yaml": "code: qe\npseudopotentials: {O: o_pbe_v1.2.uspp.F.UPF}\n",
        "p_kpoints.yaml": "code: qe\nkpoints: foo\n",
    }
    for name, text in presets.items():
        (root / name).write_text(text)
    (root / "rec_bad.json").write_text("{bad")
    (root / "rec_list.json").write_text("[1, 2]")
    (root / "rec_nometa.json").write_text('[{"metadata": {}}]')
    _write_outputs(root)
    _write_cubes(root)


def _write_outputs(root: Path) -> None:
    """Empty and missing program outputs, and (with ../shared/refdata) truncated and corrupted
    outputs cut from real ones."""
    (root / "qe_empty").mkdir()
    (root / "qe_empty" / "pw.out").write_text("")
    (root / "qe_none").mkdir()
    qe = REFDATA / "qe" / "local_pw67_feco_b2" / "pw.out"
    vasp = REFDATA / "vasp" / "custodian_feo_afm_relax"
    if not qe.is_file() or not vasp.is_dir():
        return
    lines = qe.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "iteration #  8" in line)
    (root / "qe_midscf").mkdir()
    (root / "qe_midscf" / "pw.out").write_text("".join(lines[: cut + 5]))  # pw.x killed mid-SCF
    outcar = (vasp / "OUTCAR").read_text().splitlines(keepends=True)
    first_free = next(i for i, line in enumerate(outcar) if "FREE ENERGIE" in line)
    cases = {
        "vasp_outcar_cut": "".join(outcar[: first_free - 1]),
        "vasp_outcar_noe": "".join(l for l in outcar if "TOTEN" not in l and "energy  without entropy" not in l
                                   and "energy(sigma->0)" not in l),
    }
    for name, text in cases.items():
        (root / name).mkdir()
        for f in ("INCAR", "POSCAR", "KPOINTS", "OSZICAR", "CONTCAR"):
            shutil.copy(vasp / f, root / name / f)
        (root / name / "OUTCAR").write_text(text)
    for name, xml in (("vasp_xml_empty", ""), ("vasp_xml_cut", (vasp / "vasprun.xml").read_text()[:20000])):
        (root / name).mkdir()
        for f in ("INCAR", "POSCAR", "KPOINTS", "OSZICAR", "CONTCAR", "OUTCAR"):
            shutil.copy(vasp / f, root / name / f)
        (root / name / "vasprun.xml").write_text(xml)


def _cube_text(n: tuple[int, int, int], n_values: int) -> str:
    """A Gaussian cube (1 H atom, grid ``n``) with ``n_values`` data values."""
    head = ["cube", "test", f"    1 {0.0:12.6f} {0.0:12.6f} {0.0:12.6f}"]
    for axis in range(3):
        vec = [0.0, 0.0, 0.0]
        vec[axis] = 0.5
        head.append(f"{n[axis]:5d} {vec[0]:12.6f} {vec[1]:12.6f} {vec[2]:12.6f}")
    head.append(f"    1 {1.0:12.6f} {1.0:12.6f} {1.0:12.6f} {1.0:12.6f}")
    values = " ".join("1.0e-2" for _ in range(n_values))
    return "\n".join(head) + "\n" + values + "\n"


def _write_cubes(root: Path) -> None:
    (root / "total_short.cube").write_text(_cube_text((6, 6, 6), 100))  # header 216 points, 100 given
    (root / "total_6.cube").write_text(_cube_text((6, 6, 6), 216))
    (root / "spin_8.cube").write_text(_cube_text((8, 8, 8), 512))  # grid differs from total


# (case id, argv, environment, words the one-line error must contain)
CASES: list[tuple[str, list[str], dict[str, str], tuple[str, ...]]] = [
    # --- structure specs: unknown elements / sites / presets, d <= 0, overlaps
    ("tip-unknown-element", ["build", "tip", "--apex", "Xx", "-o", "t.xyz"], {}, ("Xx",)),
    ("tip-zero-layers", ["build", "tip", "--layers", "0", "-o", "t.xyz"], {}, ("layers",)),
    ("tip-negative-lattice", ["build", "tip", "--a", "-1", "-o", "t.xyz"], {}, ("a_A",)),
    ("junction-d-zero", ["build", "junction", "--distance", "0", "-o", "j.xyz"], {}, ("distance",)),
    ("junction-d-negative", ["build", "junction", "--distance", "-2", "-o", "j.xyz"], {}, ("distance",)),
    ("junction-overlap", ["build", "junction", "--distance", "0.3", "--size", "2x1", "--w-layers", "2",
                          "--tip-layers", "1", "-o", "j.xyz"], {}, ("apart",)),
    ("junction-unknown-site", ["build", "junction", "--distance", "4", "--site", "bridge", "-o", "j.xyz"], {}, ("bridge",)),
    ("junction-unknown-config", ["build", "junction", "--distance", "4", "--config", "up", "-o", "j.xyz"], {}, ("up",)),
    ("junction-unknown-surface", ["build", "junction", "--distance", "4", "--surface", "foo", "-o", "j.xyz"], {}, ("foo",)),
    ("junction-zero-size", ["build", "junction", "--distance", "4", "--size", "0x2", "-o", "j.xyz"], {}, ("size",)),
    ("junction-site-index", ["build", "junction", "--distance", "4", "--site-index", "99", "-o", "j.xyz"], {}, ("99",)),
    ("junction-unknown-tip", ["build", "junction", "--distance", "4", "--tip", "Kr", "-o", "j.xyz"], {}, ("Kr",)),
    ("adsorbate-unknown-species", ["build", "adsorbate", "--species", "TiH9", "-o", "a.xyz"], {}, ("TiH9",)),
    ("adsorbate-unknown-site", ["build", "adsorbate", "--site", "moon", "-o", "a.xyz"], {}, ("moon",)),
    ("adsorbate-zero-mgo", ["build", "adsorbate", "--mgo-layers", "0", "-o", "a.xyz"], {}, ("MgO",)),
    ("molecule-unknown", ["build", "molecule", "--species", "XeF", "-o", "m.xyz"], {}, ("XeF",)),
    ("output-unwritable", ["build", "tip", "-o", "/proc/tipsurf-test/t.xyz"], {}, ("/proc",)),
    # --- calculation inputs: presets, codes, overrides, structure files, pseudopotentials
    ("inputs-missing-structure", ["inputs", "nonexist.xyz", "-o", "c"], {}, ("nonexist.xyz",)),
    ("inputs-garbage-structure", ["inputs", "garbage.xyz", "-o", "c"], {}, ("garbage.xyz",)),
    ("inputs-empty-structure", ["inputs", "empty.xyz", "-o", "c"], {}, ("empty.xyz",)),
    ("inputs-unknown-preset", ["inputs", GOOD_XYZ, "--preset", "nosuch", "-o", "c"], {}, ("nosuch",)),
    ("inputs-unknown-code", ["inputs", GOOD_XYZ, "--code", "cp2k", "-o", "c"], {}, ("cp2k",)),
    ("inputs-preset-wrong-code", ["inputs", GOOD_XYZ, "--code", "vasp", "--preset", "fast", "-o", "c"], {}, ("fast",)),
    ("inputs-override-no-equals", ["inputs", GOOD_XYZ, "--set", "foo", "-o", "c"], {}, ("foo",)),
    ("inputs-override-negative-cutoff", ["inputs", GOOD_XYZ, "--set", "ecutwfc_Ry=-5", "-o", "c"], {}, ("ecutwfc_Ry",)),
    ("inputs-override-unknown-key", ["inputs", GOOD_XYZ, "--set", "mixing_bet=0.1", "-o", "c"], {"pseudo": "usable"}, ("mixing_bet",)),
    ("inputs-unknown-calculation", ["inputs", GOOD_XYZ, "--calculation", "md", "-o", "c"], {}, ("md",)),
    ("preset-malformed-yaml", ["inputs", GOOD_XYZ, "--preset", "p_badyaml.yaml", "-o", "c"], {}, ("p_badyaml.yaml", "YAML")),
    ("preset-not-mapping", ["inputs", GOOD_XYZ, "--preset", "p_string.yaml", "-o", "c"], {}, ("p_string.yaml",)),
    ("preset-no-code", ["inputs", GOOD_XYZ, "--preset", "p_nocode.yaml", "-o", "c"], {}, ("code",)),
    ("preset-bad-kpoints", ["inputs", GOOD_XYZ, "--preset", "p_kpoints.yaml", "-o", "c"], {"pseudo": "usable"}, ("kpoints",)),
    ("pseudo-file-missing", ["inputs", GOOD_XYZ, "--preset", "p_missing_upf.yaml", "-o", "c"], {"pseudo": "library"}, ("missing.UPF",)),
    ("pseudo-element-unmapped", ["inputs", GOOD_XYZ, "--preset", "p_no_h.yaml", "-o", "c"], {"pseudo": "library"}, ("H",)),
    ("pseudo-dir-empty", ["inputs", GOOD_XYZ, "-o", "c"], {"pseudo": "pseudo_empty"}, ("h_pbe_v1.4.uspp.F.UPF",)),
    ("pseudo-dir-nonexistent", ["inputs", GOOD_XYZ, "-o", "c"], {"pseudo": "no_such_dir"}, ("no_such_dir",)),
    ("pseudo-wrong-element", ["inputs", GOOD_XYZ, "-o", "c"], {"pseudo": "pseudo_wrong"}, ("is for O",)),
    ("pseudo-truncated", ["inputs", GOOD_XYZ, "-o", "c"], {"pseudo": "pseudo_trunc"}, ("truncated",)),
    ("potcar-not-configured", ["inputs", GOOD_XYZ, "--code", "vasp", "--preset", "tio-mgo-vasp", "-o", "c"],
     {"PMG_VASP_PSP_DIR": ""}, ("POTCAR",)),
    ("potcar-dir-wrong", ["inputs", GOOD_XYZ, "--code", "vasp", "--preset", "tio-mgo-vasp", "-o", "c"],
     {"PMG_VASP_PSP_DIR": "pseudo_empty"}, ("POTCAR",)),
    ("inputs-hubbard-u-missing", ["inputs", "ti.xyz", "--preset", "tio-mgo-qe", "-o", "c"], {}, ("Hubbard U", "hubbard_u_eV.Ti")),
    ("pseudo-check-missing-dir", ["pseudo", "check", "no_such_dir"], {}, ("no_such_dir",)),
    # --- empty and missing outputs (the damaged real outputs are REFDATA_CASES below)
    ("qe-empty-output", ["parse", "qe_empty"], {}, ("PWSCF",)),
    ("qe-no-output", ["parse", "qe_none"], {}, ("pw.out",)),
    ("qe-missing-folder", ["parse", "no_such_calc"], {}, ("no_such_calc",)),
    ("cube-short-grid", ["analyze", "bader", "total_short.cube", "-o", "b.json"], {}, ("total_short.cube",)),
    ("cube-grids-differ", ["analyze", "bader", "total_6.cube", "spin_8.cube", "-o", "b.json"], {}, ("grid",)),
    # --- campaigns (the embedded launchpad of the project must stay untouched)
    ("scan-empty-distances", ["scan", "--distances", ""], {}, ("distances",)),
    ("scan-blank-distances", ["scan", "--distances", " , ,"], {}, ("distances",)),
    ("scan-repeated-distances", ["scan", "--distances", "4,4"], {}, ("repeat",)),
    ("scan-negative-distance", ["scan", "--distances", "-1,4"], {}, ("positive",)),
    ("scan-zero-distance", ["scan", "--distances", "0,4"], {}, ("positive",)),
    ("scan-text-distances", ["scan", "--distances", "near,far"], {}, ("near,far",)),
    ("scan-empty-range", ["scan", "--distances", "5:4:0.5"], {}, ("empty",)),
    ("scan-zero-step", ["scan", "--distances", "4:5:0"], {}, ("4:5:0",)),
    ("scan-huge-range", ["scan", "--distances", "1:1000:0.01"], {}, ("points",)),
    ("scan-unknown-config", ["scan", "--distances", "4", "--configs", "p,up"], {}, ("up",)),
    ("scan-no-reference-surface", ["scan", "--surface", "mgo-ag100", "--distances", "4"], {}, ("mgo-ag100",)),
    ("scan-unknown-site", ["scan", "--distances", "4", "--site", "bridge"], {}, ("bridge",)),
    ("scan-unknown-tip", ["scan", "--distances", "4", "--tip", "Xx"], {}, ("Xx",)),
    ("scan-unknown-preset", ["scan", "--distances", "4", "--preset", "nosuch"], {}, ("nosuch",)),
    ("scan-bad-launchpad-file", ["scan", "--distances", "4", "--launchpad", "lp.txt"], {}, ("lp.txt",)),
    ("run-unknown-campaign", ["run", "--name", "nosuch"], {}, ("nosuch",)),
    ("status-unknown-campaign", ["status", "--name", "nosuch"], {}, ("nosuch",)),
    ("rerun-unknown-campaign", ["rerun", "--name", "nosuch"], {}, ("nosuch",)),
    ("results-unknown-campaign", ["results", "--name", "nosuch"], {}, ("nosuch",)),
    ("adsorbates-unknown-species", ["campaign", "adsorbates", "--preset", "fast", "--species", "TiH9"], {"pseudo": "usable"}, ("TiH9",)),
    ("adsorbates-unknown-site", ["campaign", "adsorbates", "--preset", "fast", "--sites", "moon"], {"pseudo": "usable"}, ("moon",)),
    # --- analysis inputs
    ("records-missing", ["analyze", "exchange", "--records", "nope.json", "-o", "x"], {}, ("nope.json",)),
    ("records-bad-json", ["analyze", "exchange", "--records", "rec_bad.json", "-o", "x"], {}, ("JSON",)),
    ("records-not-records", ["analyze", "exchange", "--records", "rec_list.json", "-o", "x"], {}, ("rec_list.json",)),
    ("records-no-metadata", ["analyze", "exchange", "--records", "rec_nometa.json", "-o", "x"], {}, ("metadata",)),
    ("records-none-given", ["analyze", "exchange", "-o", "x"], {}, ("--name",)),
    ("records-unknown-campaign", ["analyze", "exchange", "--name", "nosuch-campaign", "-o", "x"], {}, ("nosuch-campaign",)),
]

#: Truncated and corrupted real outputs (cut from ../shared/refdata); one test runs them all.
REFDATA_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("qe-killed-mid-scf", ["parse", "qe_midscf"], ("truncated",)),
    ("vasp-outcar-truncated", ["parse", "vasp_outcar_cut", "--code", "vasp"], ("OUTCAR",)),
    ("vasp-outcar-no-energy", ["parse", "vasp_outcar_noe", "--code", "vasp"], ("OUTCAR", "energy")),
    ("vasp-vasprun-empty", ["parse", "vasp_xml_empty", "--code", "vasp"], ("vasprun.xml",)),
    ("vasp-vasprun-truncated", ["parse", "vasp_xml_cut", "--code", "vasp"], ("vasprun.xml",)),
]


@pytest.fixture
def bad_project(project: Path, monkeypatch: pytest.MonkeyPatch, qe_pseudo_library) -> Path:
    _write_inputs(project, qe_pseudo_library)
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    return project


def _apply_env(env: dict[str, str], root: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    for key, value in env.items():
        if key == "pseudo" and value == "usable":  # what works for the fast preset (ld1.x set without ../shared)
            request.getfixturevalue("qe_pseudos")
        elif key == "pseudo" and value == "library":  # an explicit folder the preset's map is checked against
            monkeypatch.setenv("TIPSURF_PSEUDO_DIR", str(request.getfixturevalue("qe_pseudo_library").folder))
        elif key == "pseudo":
            monkeypatch.setenv("TIPSURF_PSEUDO_DIR", str(root / value))
        elif value:
            monkeypatch.setenv(key, str(root / value))
        else:
            monkeypatch.delenv(key, raising=False)


def test_at_least_30_distinct_cases() -> None:
    ids = [c[0] for c in CASES] + [c[0] for c in REFDATA_CASES]
    assert len(set(ids)) == len(ids)
    assert len(ids) >= 30


@pytest.mark.parametrize("case_id, argv, env, needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_error_no_write(
    case_id: str, argv: list[str], env: dict[str, str], needles: tuple[str, ...],
    bad_project: Path, run_cli, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:
    _apply_env(env, bad_project, monkeypatch, request)
    before = snapshot(bad_project)
    result = run_cli(*argv)
    after = snapshot(bad_project)
    assert_one_line_error(result, *needles)
    assert not diff_snapshots(before, after), f"files changed by a failing command: {diff_snapshots(before, after)}"


def test_damaged_real_outputs_one_line_error_no_write(bad_project: Path, run_cli) -> None:
    """Every case of REFDATA_CASES in turn (one test: they all read ../shared/refdata)."""
    if not REFDATA.is_dir():
        pytest.skip("needs ../shared/refdata (real QE and VASP outputs)")
    failures = []
    for case_id, argv, needles in REFDATA_CASES:
        before = snapshot(bad_project)
        result = run_cli(*argv)
        after = snapshot(bad_project)
        try:
            assert_one_line_error(result, *needles)
            assert not diff_snapshots(before, after), f"files changed: {diff_snapshots(before, after)}"
        except AssertionError as err:
            failures.append(f"{case_id}: {err}")
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------- the real script

SCRIPT_CASES = [
    ["build", "junction", "--distance", "-1", "-o", "j.xyz"],
    ["inputs", "nonexist.xyz", "-o", "c"],
]


def _script() -> list[str]:
    exe = shutil.which("tipsurf")
    return [exe] if exe else [sys.executable, "-m", "tipsurf.cli"]


@pytest.mark.parametrize("argv", SCRIPT_CASES, ids=["junction-d-negative", "inputs-missing-structure"])
def test_script_bad_input_no_traceback(argv: list[str], project: Path) -> None:
    proc = subprocess.run(_script() + argv, capture_output=True, text=True, timeout=120, cwd=project,
                          env={**os.environ})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


NONSENSE = [
    ["frobnicate"],
    ["build", "tip", "--layers", "abc", "-o", "t.xyz"],
    ["build", "tip"],  # missing required -o
    ["build", "junction", "--distance", "4", "--no-such-option", "-o", "j.xyz"],
    ["parse"],  # missing argument
]


@pytest.mark.parametrize("argv", NONSENSE, ids=["unknown-command", "non-integer", "missing-output",
                                                "unknown-option", "missing-argument"])
def test_nonsense_cli_arguments(argv: list[str], project: Path, run_cli) -> None:
    before = snapshot(project)
    result = run_cli(*argv)
    assert result.rc != 0
    assert "Traceback" not in result.err
    lines = result.err_lines
    assert lines, "no message for a nonsense command line"
    # either our one-line error, or click's short usage block ending in 'Error: ...'
    assert lines[0].startswith("error: ") and len(lines) == 1 or (result.rc == 2 and lines[-1].startswith("Error:")), lines
    assert not diff_snapshots(before, snapshot(project))
