"""The ``vibrations``, ``phonons`` and ``elastic`` commands, run through a local typer app
on a tiny model: tables printed, files written, bad input reported in one line."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import typer
from ase.build import bulk, molecule
from typer.testing import CliRunner

from equipot.cli.elastic import elastic
from equipot.cli.phonons import phonons
from equipot.cli.vibrations import vibrations

app = typer.Typer(pretty_exceptions_enable=False)
app.command()(vibrations)
app.command()(phonons)
app.command()(elastic)
runner = CliRunner()


@pytest.fixture(scope="module")
def structures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("structures")
    ase.io.write(folder / "ch4.xyz", molecule("CH4"))
    ase.io.write(folder / "cu.xyz", bulk("Cu", a=3.6))
    ase.io.write(folder / "cu_cubic.xyz", bulk("Cu", a=3.6, cubic=True))
    return folder


def test_vibrations_command(model_file, structures, tmp_path) -> None:
    out = tmp_path / "vib"
    result = runner.invoke(app, ["vibrations", str(model_file), str(structures / "ch4.xyz"), "--out-dir", str(out), "--relax-fmax", "1e-5"])
    assert result.exit_code == 0, result.output
    assert "frequency (cm^-1)" in result.output and "zero modes:" in result.output
    data = json.loads((out / "vibrations.json").read_text())
    assert len(data["frequencies_cm"]) == 15 and data["hessian_method"] == "autograd-vmap"
    assert (out / "spectrum.png").stat().st_size > 5000 and len(list((out / "modes").glob("*.extxyz"))) == 15
    finite = runner.invoke(app, ["vibrations", str(model_file), str(structures / "ch4.xyz"), "--out-dir", str(out), "--delta", "1e-3"])
    assert finite.exit_code == 0 and json.loads((out / "vibrations.json").read_text())["hessian_method"] == "finite-differences"


def test_phonons_command(model_file, structures, tmp_path) -> None:
    out = tmp_path / "ph"
    args = ["phonons", str(model_file), str(structures / "cu.xyz"), "--supercell", "2", "2", "2", "--out-dir", str(out), "--exact-hessian"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "exact-hessian" in result.output and "Γ" in result.output
    for name in ("band.yaml", "band.csv", "dos.csv", "bands.png", "dos.png"):
        assert (out / name).is_file(), name


def test_elastic_command(model_file, structures, tmp_path) -> None:
    out = tmp_path / "el"
    args = ["elastic", str(model_file), str(structures / "cu_cubic.xyz"), "--no-relax-ions", "--strain", "0.002", "--out-dir", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "clamped" in result.output and "Hill" in result.output and "max |C_ij - C_ji|" in result.output
    data = json.loads((out / "elastic.json").read_text())
    matrix = np.array(data["matrix"])
    assert matrix.shape == (6, 6) and data["strain"] == 0.002 and not data["relaxed_ions"]
    np.testing.assert_allclose(np.loadtxt(out / "elastic.csv", delimiter=",", skiprows=1), matrix, atol=1e-5)
    assert (out / "elastic.png").stat().st_size > 5000


def test_bad_input_gives_one_line_errors(model_file, structures, tmp_path) -> None:
    result = runner.invoke(app, ["phonons", str(model_file), str(structures / "ch4.xyz"), "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "need a periodic cell" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["elastic", str(model_file), str(tmp_path / "missing.xyz")])
    assert result.exit_code == 2 and "missing.xyz" in result.output


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.mark.parametrize("command", ["vibrations", "phonons", "elastic"])
def test_empty_or_truncated_structure_file_is_one_line(command, model_file, structures, tmp_path) -> None:
    """The three commands read through `equipot.data.read_structure`, as md, relax and neb do."""
    (tmp_path / "empty.xyz").write_text("")
    text = (structures / "cu.xyz").read_text()
    (tmp_path / "cut.xyz").write_text(text[: len(text) // 2])
    for name in ("empty.xyz", "cut.xyz"):
        result = runner.invoke(app, [command, str(model_file), str(tmp_path / name), "--out-dir", str(tmp_path / "out")])
        line = _one_error_line(result)
        assert f"cannot read a structure from {tmp_path / name}" in line and "empty, truncated" in line


def test_zero_volume_cell_is_named_with_its_determinant(model_file, structures, tmp_path) -> None:
    """Was `SpglibCppError: spacegroup search failed` (zero cell) or `Singular matrix`."""
    flat = bulk("Cu", a=3.6)
    flat.cell[2] = flat.cell[1]
    ase.io.write(tmp_path / "flat.xyz", flat)
    for command in ("phonons", "elastic"):
        result = runner.invoke(app, [command, str(model_file), str(tmp_path / "flat.xyz"), "--out-dir", str(tmp_path)])
        line = _one_error_line(result)
        assert "flat.xyz, last frame: the cell has zero volume (det = 0 Å³)" in line
        assert "set three independent lattice vectors" in line


def test_phonons_of_an_in_memory_zero_volume_cell(model_file) -> None:
    """The library check (`check_cell_volume`) for atoms that were not read from a file."""
    from equipot.data import StructureError
    from equipot.models.io import load_model
    from equipot.properties import phonons

    atoms = bulk("Cu", a=3.6)
    atoms.set_cell(np.zeros((3, 3)))
    with pytest.raises(StructureError, match=r"^phonons: the cell has zero volume \(det = 0 Å³\); phonons need a 3-D"):
        phonons(load_model(model_file), atoms, supercell=(1, 1, 1))


def test_nan_position_is_named_by_file_frame_and_atom(model_file, structures, tmp_path) -> None:
    atoms = molecule("CH4")
    atoms.positions[2, 0] = np.inf
    ase.io.write(tmp_path / "bad.xyz", atoms)
    line = _one_error_line(runner.invoke(app, ["vibrations", str(model_file), str(tmp_path / "bad.xyz")]))
    assert "bad.xyz, last frame: positions of atoms [2] are NaN or infinite" in line
