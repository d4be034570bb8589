"""The ``md``, ``relax`` and ``neb`` command functions, run through a local typer app on a tiny
saved float64 model: the files they promise, and one-line messages for bad input."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import typer
from ase import Atoms
from ase.build import bulk
from typer.testing import CliRunner

from equipot.cli.md import md
from equipot.cli.neb import neb
from equipot.cli.relax import relax
from equipot.inference import CompiledPotential

app = typer.Typer(pretty_exceptions_enable=False)
app.command()(md)
app.command()(relax)
app.command()(neb)
runner = CliRunner()


def _invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def cu_cell(tmp_path_factory):
    atoms = bulk("Cu", cubic=True, a=3.61)
    atoms.rattle(0.05, seed=0)
    path = tmp_path_factory.mktemp("structures") / "cu.xyz"
    ase.io.write(path, [bulk("Cu"), atoms])  # two frames: the last one is used
    return path


@pytest.fixture(scope="module")
def cu_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    initial = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.2, 1.2, 2.1]], pbc=False)
    final = initial.copy()
    final.positions[3] += [0.4, -0.3, 0.1]
    ase.io.write(folder / "initial.xyz", initial)
    ase.io.write(folder / "final.xyz", final)
    return folder / "initial.xyz", folder / "final.xyz"


def test_md_nve_writes_trajectory_log_plot_and_prints_the_drift(tiny_model_file, cu_cell, tmp_path) -> None:
    out = tmp_path / "nve"
    result = _invoke("md", tiny_model_file, cu_cell, "--steps", 20, "--timestep", 1.0, "--log-every", 5,
                     "--out-dir", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "energy drift:" in result.output and "eV/atom/ps" in result.output
    frames = ase.io.read(out / "trajectory.extxyz", index=":")
    assert len(frames) == 5 and len(frames[0]) == 4
    table = np.loadtxt(out / "md_log.csv", delimiter=",", skiprows=1)
    assert table.shape == (5, 5)
    assert (out / "md.png").stat().st_size > 10_000
    summary = json.loads((out / "md_summary.json").read_text())
    assert summary["ensemble"] == "nve" and summary["steps"] == 20
    assert abs(summary["drift_per_atom_per_ps"]) < 1e-2  # float64, 20 fs


def test_md_npt_logs_volume_and_pressure(tiny_model_file, cu_cell, tmp_path) -> None:
    out = tmp_path / "npt"
    result = _invoke("md", tiny_model_file, cu_cell, "--ensemble", "npt", "--steps", 10, "--log-every", 5,
                     "--temperature", 100, "--pressure", 1.0, "--pdamp", 100, "--traj-format", "traj",
                     "--out-dir", out, "--no-progress")
    assert result.exit_code == 0, result.output
    header = (out / "md_log.csv").read_text().splitlines()[0]
    assert "volume_A3,pressure_GPa" in header
    assert len(ase.io.read(out / "trajectory.traj", index=":")) == 3
    summary = json.loads((out / "md_summary.json").read_text())
    assert summary["integrator"] == "ase.md.nose_hoover_chain.IsotropicMTKNPT"
    assert summary["target_pressure_GPa"] == 1.0 and summary["mean_volume_A3"] > 0


def test_relax_writes_the_relaxed_structure(tiny_model_file, cu_cell, tmp_path) -> None:
    output = tmp_path / "relaxed.xyz"
    result = _invoke("relax", tiny_model_file, cu_cell, "--cell", "--fmax", 0.05, "--max-steps", 5,
                     "--output", output, "--trajectory", tmp_path / "steps.xyz")
    assert result.exit_code == 0, result.output
    assert "max force" in result.output
    relaxed = ase.io.read(output)
    steps = ase.io.read(tmp_path / "steps.xyz", index=":")
    assert 2 <= len(steps) <= 6 and len(relaxed) == 4
    assert relaxed.get_potential_energy() == pytest.approx(steps[-1].get_potential_energy(), abs=1e-8)
    assert relaxed.get_stress().shape == (6,)  # energy, forces and stress are stored
    np.testing.assert_allclose(relaxed.cell.array, steps[-1].cell.array, atol=1e-8)


def test_neb_writes_the_path_and_prints_the_barrier(tiny_model_file, cu_cluster, tmp_path) -> None:
    initial, final = cu_cluster
    out = tmp_path / "neb"
    result = _invoke("neb", tiny_model_file, initial, final, "--images", 3, "--max-steps", 3, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert "barrier:" in result.output and "eV forward" in result.output
    assert (out / "mep.png").stat().st_size > 10_000
    frames = ase.io.read(out / "neb_images.extxyz", index=":")
    assert len(frames) == 5
    summary = json.loads((out / "neb.json").read_text())
    energies = np.array(summary["energies"])
    assert summary["barrier_forward"] == pytest.approx(energies.max() - energies[0])
    assert summary["steps"] <= 3


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["md", "{model}", "missing.xyz"], "structure file missing.xyz does not exist"),
        (["md", "missing.pt", "{cell}"], "model file missing.pt does not exist"),
        (["md", "{model}", "{cluster}", "--ensemble", "npt"], "NPT needs a periodic structure with a 3D cell"),
        (["md", "{model}", "{cell}", "--ensemble", "nvx"], "ensemble must be one of"),
        (["md", "{model}", "{cell}", "--dtype", "float16"], "dtype must be one of"),
        (["relax", "{model}", "{cluster}", "--cell"], "relax_cell needs a periodic structure"),
        (["neb", "{model}", "{cluster}", "{cell}"], "initial and final states must have the same cell and pbc"),
        (["neb", "{model}", "{cluster}", "{garbage}"], "cannot read a structure from"),
        (["relax", "{model}", "{zero}", "--cell"], "zero.xyz, last frame: the cell has zero volume (det = 0 Å³)"),
        (["md", "{model}", "{nan}"], "nan.xyz, last frame: positions of atoms [3] are NaN or infinite"),
        (["md", "{model}", "{cell}", "--device", "gpu"], "device 'gpu' is not a PyTorch device; use cpu, cuda"),
        (["relax", "{model}", "{cell}", "--device", "npu:0"], "device 'npu:0' is not a PyTorch device"),
    ],
)
def test_bad_input_gives_a_one_line_message(command, message, tiny_model_file, cu_cell, cu_cluster, tmp_path) -> None:
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("this is not\na structure\n")
    zero = bulk("Cu", cubic=True)
    zero.set_cell(np.zeros((3, 3)))  # pbc stays True
    ase.io.write(tmp_path / "zero.xyz", zero)
    nan = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.2, 1.2, np.nan]])  # was "Eigenvalues did not converge"
    ase.io.write(tmp_path / "nan.xyz", nan)
    paths = {"model": tiny_model_file, "cell": cu_cell, "cluster": cu_cluster[0], "garbage": garbage,
             "zero": tmp_path / "zero.xyz", "nan": tmp_path / "nan.xyz"}
    result = _invoke(*[part.format(**paths) for part in command], "--out-dir" if command[0] != "relax" else "--output",
                     tmp_path / ("out" if command[0] != "relax" else "out.xyz"))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert message in lines[0]


@pytest.mark.parametrize("command", ["md", "relax", "neb"])
def test_device_cuda_without_cuda_is_one_line(command, tiny_model_file, cu_cell, monkeypatch, tmp_path) -> None:
    """Was `AssertionError: Torch not compiled with CUDA enabled`; one check (`checked_device`) in load_model."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    structures = [cu_cell, cu_cell] if command == "neb" else [cu_cell]
    output = ["--output", tmp_path / "out.xyz"] if command == "relax" else ["--out-dir", tmp_path / "out"]
    result = _invoke(command, tiny_model_file, *structures, "--device", "cuda", *output)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: device 'cuda': no CUDA device is available to PyTorch (torch {torch.__version__}")
    assert lines[0].endswith("use the CPU (--device cpu, device='cpu')")


def test_compile_option_reaches_the_calculator(tiny_model_file) -> None:
    """``--compile`` goes through `load_calculator` (compilation itself: tests/inference/test_compiled.py)."""
    from equipot.simulate import load_calculator

    assert isinstance(load_calculator(tiny_model_file, compile=True).model, CompiledPotential)
    assert not isinstance(load_calculator(tiny_model_file).model, CompiledPotential)
    result = _invoke("md", "--help")
    assert "--compile" in result.output
