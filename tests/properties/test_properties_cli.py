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
