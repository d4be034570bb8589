"""`equipot train` and `equipot evaluate` as a user runs them."""

from __future__ import annotations

import yaml
from train_helpers import tiny_config, write_molecules
from typer.testing import CliRunner

from equipot.cli.main import app
from equipot.config import load_train_config

runner = CliRunner()


def test_print_default_config_loads_back(tmp_path):
    result = runner.invoke(app, ["train", "--print-default-config"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "config.yaml"
    path.write_text(result.output)
    assert load_train_config(path).model.num_channels == 48


def test_train_resume_dir_and_evaluate(tmp_path):
    data = write_molecules(tmp_path / "ch4.xyz")
    config = tiny_config(data, tmp_path / "run", max_epochs=1)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))

    first = runner.invoke(app, ["train", str(config_path)])
    assert first.exit_code == 0, first.output
    assert "model:" in first.output and (tmp_path / "run" / "model.pt").is_file()

    # a second plain run refuses to overwrite; --resume DIR continues it (here: one more epoch)
    again = runner.invoke(app, ["train", str(config_path)])
    assert again.exit_code == 2 and "already holds a run" in again.output
    stored = tmp_path / "run" / "config.yaml"
    stored.write_text(stored.read_text().replace("max_epochs: 1", "max_epochs: 2"))
    resumed = runner.invoke(app, ["train", "--resume", str(tmp_path / "run")])
    assert resumed.exit_code == 0, resumed.output
    assert "of 2)" in resumed.output  # best epoch N of 2 epochs trained
    assert f"resuming {tmp_path / 'run'} from epoch 1" in resumed.output

    evaluated = runner.invoke(
        app, ["evaluate", str(tmp_path / "run" / "model.pt"), str(data), "--out-dir", str(tmp_path / "eval"),
              "--json", str(tmp_path / "eval.json")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert (tmp_path / "eval" / "parity_forces.png").is_file() and (tmp_path / "eval.json").is_file()


def test_train_without_config_explains(tmp_path):
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2 and "print-default-config" in result.output
    missing = runner.invoke(app, ["train", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def _tiny_model_file(path, species):
    import torch

    from equipot import EquivariantPotential, save_model

    torch.manual_seed(0)
    model = EquivariantPotential(species=species, cutoff=3.0, num_channels=4, lmax=1, hidden_lmax=1, num_layers=1)
    return save_model(model, path)


def test_train_refuses_a_nan_force_label_naming_structure_and_atom(tmp_path):
    """Was found only when the loss turned NaN."""
    import ase.io
    import numpy as np

    data = write_molecules(tmp_path / "ch4.xyz")
    frames = ase.io.read(data, index=":")
    frames[5].calc.results["forces"][3, 1] = np.nan
    ase.io.write(data, frames)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(tiny_config(data, tmp_path / "run").model_dump(mode="json")))
    line = _error_line(runner.invoke(app, ["train", str(config_path)]))
    assert "structure 5 of ch4.xyz: forces contains NaN (atom 3); fix or remove the structure" in line


def test_evaluate_a_shipped_dataset(tmp_path):
    """``shipped:NAME`` works in evaluate as in a training config's data.train_file."""
    model = _tiny_model_file(tmp_path / "model.pt", ["H", "C", "O"])
    result = runner.invoke(
        app, ["evaluate", str(model), "shipped:ethanol_1000K", "--out-dir", str(tmp_path / "eval"),
              "--json", str(tmp_path / "eval.json"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "on shipped:ethanol_1000K" in result.output
    import json

    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert metrics["n_energy_structures"] == 200 and metrics["n_force_atoms"] == 200 * 9  # ethanol, 200 frames
    unknown = _error_line(runner.invoke(app, ["evaluate", str(model), "shipped:ethanol_xtb"]))
    assert "unknown shipped dataset 'ethanol_xtb'; valid names are: 'ethanol'" in unknown


def test_evaluate_unlabelled_file_names_the_options(tmp_path):
    import ase.io
    from ase.build import molecule

    model = _tiny_model_file(tmp_path / "model.pt", ["H", "C"])
    ase.io.write(tmp_path / "bare.xyz", [molecule("CH4")] * 2)
    line = _error_line(runner.invoke(app, ["evaluate", str(model), str(tmp_path / "bare.xyz"), "--no-progress"]))
    assert line.startswith("error: bare.xyz: no energy, forces or stress labels")
    assert "--energy-key" in line and "data.keys.energy" in line
    assert "GraphDataset" not in line and "LabelKeys" not in line


def test_evaluate_device_cuda_without_cuda(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = _tiny_model_file(tmp_path / "model.pt", ["H", "C"])
    data = write_molecules(tmp_path / "ch4.xyz", n=2)
    line = _error_line(runner.invoke(app, ["evaluate", str(model), str(data), "--device", "cuda", "--no-progress"]))
    assert "device 'cuda': no CUDA device is available to PyTorch" in line and "--device cpu" in line
