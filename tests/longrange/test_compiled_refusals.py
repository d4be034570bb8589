"""A long-range (hybrid) model runs eagerly only: compiling it (``compile=True``, ``equipot md
--compile``) and exporting it (`export_model`, ``equipot export``) are refused, each with
one line that says how to run it instead."""

from __future__ import annotations

from pathlib import Path

import ase.io
import pytest
import torch
from ase.build import bulk
from typer.testing import CliRunner

import equipot
from equipot import EquipotCalculator
from equipot.cli.main import app
from equipot.config import ModelConfig
from equipot.inference import export_model
from equipot.longrange import LongRangePotential, build_potential

TINY = {"num_channels": 4, "num_layers": 1, "lmax": 1, "hidden_lmax": 1, "cutoff": 3.0}


@pytest.fixture(scope="module")
def hybrid_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny neutral-charge hybrid model file and a rocksalt NaCl cell."""
    config = ModelConfig(species=["Na", "Cl"], long_range={"charges": "neutral"}, **TINY)
    model = build_potential(config, dtype=torch.float64)
    assert isinstance(model, LongRangePotential)
    directory = tmp_path_factory.mktemp("hybrid")
    path = equipot.save_model(model, directory / "hybrid.pt")
    structure = directory / "nacl.xyz"
    ase.io.write(structure, bulk("NaCl", "rocksalt", a=5.64, cubic=True))
    return path, structure


def test_compile_true_in_python_is_refused_with_the_eager_way(hybrid_file) -> None:
    path, _ = hybrid_file
    with pytest.raises(TypeError, match=r"got LongRangePotential; run other potentials .*long-range hybrids.* compile=False"):
        EquipotCalculator.from_file(path, compile=True)
    calculator = EquipotCalculator.from_file(path)  # eager: works
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.calc = calculator
    assert abs(calculator.get_property("charges", atoms).sum()) < 1e-10


def test_md_compile_is_refused_in_one_line(hybrid_file, tmp_path) -> None:
    path, structure = hybrid_file
    run = CliRunner().invoke(
        app, ["md", str(path), str(structure), "--steps", "2", "--compile", "--out-dir", str(tmp_path), "--no-progress"]
    )
    assert run.exit_code != 0
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "got LongRangePotential" in lines[0] and "no --compile on the command line" in lines[0], run.output


def test_export_model_refuses_a_hybrid(hybrid_file, tmp_path) -> None:
    path, _ = hybrid_file
    with pytest.raises(TypeError, match="only an EquivariantPotential can be exported, got LongRangePotential; run it eagerly"):
        export_model(equipot.load_potential(path), tmp_path / "hybrid.pt2")
    assert not (tmp_path / "hybrid.pt2").exists()


def test_equipot_export_refuses_a_hybrid_in_one_line(hybrid_file, tmp_path) -> None:
    path, _ = hybrid_file
    run = CliRunner().invoke(app, ["export", str(path), "--output", str(tmp_path / "hybrid.pt2"), "--no-progress"])
    assert run.exit_code != 0
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "only an EquivariantPotential can be exported, got LongRangePotential" in lines[0], run.output
    assert "without --exported" in lines[0]
    assert not (tmp_path / "hybrid.pt2").exists()
