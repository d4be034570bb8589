"""A fine-tune keeps its base model as model.pt unless an epoch beats it on the validation
set, and says which one it kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ase.build import molecule
from train_helpers import tiny_config

from equipot import load_model
from equipot.data import AtomicEnergiesWarning, graph_from_atoms
from equipot.train import fit


@pytest.fixture(scope="module")
def base_model_file(molecules_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    with pytest.warns(AtomicEnergiesWarning):  # CH4 only: E0 from the mean energy per atom
        result = fit(tiny_config(molecules_file, tmp_path_factory.mktemp("base") / "run", max_epochs=3))
    return result.best_model_path


def _predictions(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    model = load_model(path, dtype=torch.float64)
    atoms = molecule("CH4")
    atoms.rattle(0.05, seed=3)
    output = model(graph_from_atoms(atoms, cutoff=model.cutoff), outputs={"energy", "forces"})
    return output.energy.detach(), output.forces.detach()


def test_a_fine_tune_that_gets_worse_keeps_the_base_model(
    base_model_file: Path, molecules_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread
) -> None:
    config = tiny_config(molecules_file, tmp_path / "tuned", finetune_from=str(base_model_file), model={},
                         optimizer={"lr": 0.5}, ema={"enabled": False}, max_epochs=2)
    with pytest.warns(AtomicEnergiesWarning, match="the model to fine-tune took its reference energies"):
        result = fit(config)
    output = capsys.readouterr().out
    assert "fine-tuning: the base model's validation loss is" in output
    assert "fine-tuning did not beat the base model" in output and "model.pt is the base model" in output
    assert result.best_epoch == 0 and result.epochs_trained == 2
    base_energy, base_forces = _predictions(base_model_file)
    energy, forces = _predictions(result.best_model_path)
    torch.testing.assert_close(energy, base_energy, rtol=0, atol=1e-6)
    torch.testing.assert_close(forces, base_forces, rtol=0, atol=1e-6)
    last_energy, _ = _predictions(result.last_model_path)  # the fine-tuned weights did change
    assert abs(float(last_energy - base_energy)) > 1e-3
    metadata = load_model(result.best_model_path).metadata
    assert metadata["best_epoch"] == 0 and metadata["atomic_energies_source"] == "mean_energy_per_atom"


def test_a_fine_tune_that_improves_replaces_the_base_model(
    base_model_file: Path, molecules_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread
) -> None:
    config = tiny_config(molecules_file, tmp_path / "tuned", finetune_from=str(base_model_file), model={},
                         atomic_energies={"H": -13.6, "C": -1029.5}, max_epochs=2)
    result = fit(config)  # new E0 from the config: the base model starts far off, any epoch is better
    output = capsys.readouterr().out
    assert "fine-tuning: the base model's validation loss is" in output
    assert "did not beat the base model" not in output
    assert result.best_epoch > 0
    assert load_model(result.best_model_path).metadata["atomic_energies_source"] == "config"
