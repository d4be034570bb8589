"""`fit` end to end on tiny data: the files a run writes, loss switching, early stopping,
fine-tuning, and the errors of a run that cannot start or cannot go on."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_MODEL, tiny_config, write_copper, write_molecules

from equipot import EquivariantPotential, load_model, save_model
from equipot.data import DataFileError
from equipot.train import FinetuneError, NonFiniteLossError, RunExistsError, TrainingDataError, fit, runner

pytestmark = pytest.mark.usefixtures("one_thread")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path) as stream:
        return list(csv.DictReader(stream))


def test_a_run_writes_its_files(molecules_file: Path, tmp_path: Path) -> None:
    config = tiny_config(molecules_file, tmp_path / "run", data={"n_test": 3})
    result = fit(config)

    assert result.epochs_trained == 2 and 1 <= result.best_epoch <= 2
    for path in (
        result.best_model_path,
        result.last_model_path,
        result.best_checkpoint_path,
        result.last_checkpoint_path,
        result.metrics_path,
        result.output_dir / "config.yaml",
    ):
        assert path.is_file(), path
    assert result.learning_curve_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = read_rows(result.metrics_path)
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert set(rows[0]) == {
        "epoch",
        "lr",
        "train_loss",
        "valid_loss",
        "valid_energy_per_atom_mae_meV_per_atom",
        "valid_energy_per_atom_rmse_meV_per_atom",
        "valid_forces_mae_meV_per_A",
        "valid_forces_rmse_meV_per_A",
        "wall_time_s",
    }
    best_row = rows[result.best_epoch - 1]
    assert result.valid_metrics["forces_mae"] == pytest.approx(float(best_row["valid_forces_mae_meV_per_A"]), rel=1e-4)
    assert set(result.test_metrics or {}) == set(result.valid_metrics)

    model = load_model(result.best_model_path)
    assert model.species == ["H", "C"] and model.config.num_channels == TINY_MODEL["num_channels"]
    metadata = model.metadata
    assert metadata["config"]["model"]["species"] == ["H", "C"]
    assert metadata["statistics"]["n_structures"] == 16 - 3 - 4
    assert metadata["epochs_trained"] == 2 and metadata["best_epoch"] == result.best_epoch
    assert metadata["metrics"]["test"] == result.test_metrics
    assert float(model.scale) == pytest.approx(result.statistics.force_rms)

    checkpoint = torch.load(result.last_checkpoint_path, weights_only=True)  # plain data only
    assert checkpoint["equipot"]["config"]["model"]["species"] == ["H", "C"]
    assert any(key.startswith("ema.model.") for key in checkpoint["state_dict"])

    with pytest.raises(RunExistsError, match="already holds a run.*resume"):
        fit(config)


def test_loss_switch_sets_weights_and_learning_rate(molecules_file: Path, tmp_path: Path) -> None:
    config = tiny_config(
        molecules_file,
        tmp_path / "run",
        max_epochs=3,
        ema={"enabled": False},
        loss={"kind": "huber", "switch": {"epoch": 2, "energy_weight": 100.0, "forces_weight": 1.0, "lr": 1e-4}},
        optimizer={"name": "adamw", "lr": 0.01},
        scheduler={"name": "cosine", "min_lr": 0.0},
    )
    rows = read_rows(fit(config).metrics_path)
    lrs = [float(row["lr"]) for row in rows]
    assert lrs[0] == pytest.approx(0.01) and 0.0 < lrs[1] < 0.01  # cosine decays
    assert lrs[2] == pytest.approx(1e-4)  # the switch fixes the learning rate


def test_early_stopping_without_improvement(molecules_file: Path, tmp_path: Path) -> None:
    config = tiny_config(
        molecules_file,
        tmp_path / "run",
        max_epochs=10,
        early_stopping_patience=2,
        optimizer={"lr": 1e-30},
        ema={"enabled": False},
        scheduler={"name": "none"},
    )
    result = fit(config)
    assert result.epochs_trained == 3 and result.best_epoch == 1  # losses stay equal: no improvement


def test_stress_training_on_periodic_data(tmp_path: Path) -> None:
    train_file = write_copper(tmp_path / "cu.xyz", n=8)
    config = tiny_config(train_file, tmp_path / "run", max_epochs=1, loss={"stress_weight": 10.0}, data={"n_valid": 2})
    result = fit(config)
    assert {"stress_mae", "stress_rmse"} <= set(result.valid_metrics)
    assert "valid_stress_mae_meV_per_A3" in read_rows(result.metrics_path)[0]


def test_nan_loss_names_epoch_batch_and_structures(
    molecules_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare = runner.prepare_run

    def poisoned(config):  # a NaN label in one training structure, after the statistics
        setup = prepare(config)
        setup.data.train.graphs[5].graph_targets["energy"][0] = float("nan")
        return setup

    monkeypatch.setattr(runner, "prepare_run", poisoned)
    config = tiny_config(molecules_file, tmp_path / "run", batch_size=2)
    with pytest.raises(NonFiniteLossError) as error:
        fit(config)
    message = str(error.value)
    assert "training loss is nan in epoch 1 (1-based), batch" in message
    assert "structure " in message and "of ch4.xyz" in message
    assert prepare(config).data.train.names[5] in message


def test_missing_forces_with_positive_weight(tmp_path: Path) -> None:
    train_file = write_molecules(tmp_path / "energies.xyz", n=8, forces=False)
    with pytest.raises(
        TrainingDataError,
        match=r"training data: 4 of 4 structures have no forces \(looked up under key 'forces'\).*"
        r"loss.forces_weight is 10.0. Set loss.forces_weight: 0, or provide forces",
    ):
        fit(tiny_config(train_file, tmp_path / "run"))
    result = fit(tiny_config(train_file, tmp_path / "energy_only", max_epochs=1, loss={"forces_weight": 0.0}))
    assert "forces_mae" not in result.valid_metrics and "energy_per_atom_mae" in result.valid_metrics


def test_stress_weight_without_stress(molecules_file: Path, tmp_path: Path) -> None:
    with pytest.raises(
        TrainingDataError,
        match="have no stress.*loss.stress_weight is 1.0. Set loss.stress_weight: 0, or provide stress",
    ):
        fit(tiny_config(molecules_file, tmp_path / "run", loss={"stress_weight": 1.0}))
    with pytest.raises(TrainingDataError, match="loss.switch.stress_weight is 5.0"):
        fit(tiny_config(molecules_file, tmp_path / "run", loss={"switch": {"epoch": 1, "stress_weight": 5.0}}))


def test_empty_and_too_small_datasets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    with pytest.raises(DataFileError, match="no structures in the file"):
        fit(tiny_config(empty, tmp_path / "run"))
    few = write_molecules(tmp_path / "few.xyz", n=3)
    with pytest.raises(TrainingDataError, match="cannot hold out data.n_valid=4 of the 3 structures of few.xyz"):
        fit(tiny_config(few, tmp_path / "run"))


def test_cutoff_shorter_than_every_distance(molecules_file: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"no two atoms .* within model.cutoff = 0.5 Å.*set model.cutoff above"):
        fit(tiny_config(molecules_file, tmp_path / "run", model={"cutoff": 0.5}))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_species_that_miss_an_element_of_the_data(molecules_file: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"the data contain \['C'\], which model.species \['H'\] does not list"):
        fit(tiny_config(molecules_file, tmp_path / "run", model={"species": ["H"]}))


def test_finetune_checks_species_and_architecture(molecules_file: Path, tmp_path: Path) -> None:
    hydrogen_only = save_model(EquivariantPotential(species=["H"], **TINY_MODEL), tmp_path / "h.pt")
    with pytest.raises(
        FinetuneError, match=r"the data contain \['C'\], but the model to fine-tune .*h.pt\) knows only \['H'\]"
    ):
        fit(tiny_config(molecules_file, tmp_path / "run", finetune_from=str(hydrogen_only), model={}))

    base = EquivariantPotential(species=["H", "C", "O"], **TINY_MODEL)
    base.set_normalization(scale=0.5, avg_num_neighbors=3.0)
    base_file = save_model(base, tmp_path / "base.pt")
    with pytest.raises(FinetuneError, match="model.num_channels: 8 in the config, 4 in"):
        fit(tiny_config(molecules_file, tmp_path / "run", finetune_from=str(base_file), model={"num_channels": 8}))

    config = tiny_config(molecules_file, tmp_path / "tuned", finetune_from=str(base_file), max_epochs=1)
    tuned = load_model(fit(config).best_model_path)
    assert tuned.species == ["H", "C", "O"] and float(tuned.scale) == 0.5  # its own normalization


def test_progress_bar_on_a_terminal(
    molecules_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    result = fit(tiny_config(molecules_file, tmp_path / "run", max_epochs=1))
    assert result.epochs_trained == 1
    assert "epoch 1/1  train loss" in capsys.readouterr().out


def test_separate_files_and_shipped_data(tmp_path: Path) -> None:
    valid_file = write_molecules(tmp_path / "valid.xyz", n=3, seed=1)
    test_file = write_molecules(tmp_path / "test.xyz", n=2, seed=2)
    config = tiny_config(
        "shipped:ethanol",
        tmp_path / "run",
        max_epochs=1,
        data={"index": ":8", "valid_file": str(valid_file), "test_file": str(test_file), "n_valid": None},
    )
    result = fit(config)
    assert result.statistics.n_structures == 8 and result.test_metrics is not None
    assert load_model(result.best_model_path).species == ["H", "C", "O"]  # elements of all three sets
    assert load_model(result.best_model_path).metadata["config"]["data"]["train_file"] == "shipped:ethanol"


def test_several_training_files_are_joined(tmp_path: Path) -> None:
    first = write_copper(tmp_path / "first.xyz", n=5, seed=1)
    second = write_copper(tmp_path / "second.xyz", n=4, seed=2)
    config = tiny_config(first, tmp_path / "run", max_epochs=1, data={"train_file": [str(first), str(second)], "n_valid": 2})
    result = fit(config)
    assert result.statistics.n_structures == 7  # 9 structures, 2 held out for validation
    stored = load_model(result.best_model_path).metadata["config"]["data"]["train_file"]
    assert stored == [str(first.resolve()), str(second.resolve())]
    with pytest.raises(ValueError, match="train_file lists no files"):
        tiny_config(first, tmp_path / "other", data={"train_file": []})


def test_threads_setting(molecules_file: Path, tmp_path: Path) -> None:
    try:
        fit(tiny_config(molecules_file, tmp_path / "run", max_epochs=1, threads=2))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_density_embedding_in_a_new_model_and_added_by_a_fine_tune(tmp_path: Path) -> None:
    copper = write_copper(tmp_path / "cu.xyz", n=8)
    section = {"decay_rates": [1.0, 3.0], "hidden": 4}
    trained = load_model(fit(tiny_config(copper, tmp_path / "new", model={"density_embedding": section})).best_model_path)
    assert trained.config.density_embedding.decay_rates == [1.0, 3.0]
    assert float(trained.density_readout.density_mean.abs().min()) > 0  # fitted on the training cells

    plain = fit(tiny_config(copper, tmp_path / "plain")).best_model_path
    config = tiny_config(copper, tmp_path / "tuned", finetune_from=str(plain), model={"density_embedding": section},
                         max_epochs=2)
    tuned_dir = fit(config).output_dir
    tuned = load_model(tuned_dir / "last_model.pt")
    assert tuned.config.density_embedding.decay_rates == [1.0, 3.0]
    assert float(tuned.density_readout.out_weight.detach().abs().max()) > 0  # trained from zero
    assert torch.equal(tuned.atomic_energies, load_model(plain).atomic_energies)  # the base's normalization kept

    with pytest.raises(FinetuneError, match=r"model.density_embedding: .* in the config, .* in"):
        fit(tiny_config(copper, tmp_path / "again", finetune_from=str(tuned_dir / "last_model.pt"),
                        model={"density_embedding": {"decay_rates": [2.0]}}))
