"""Multi-task training: energy and forces together with head targets (dipoles of the
shipped GFN2-xTB ethanol set), metrics in their units, evaluation and parity plots."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY_MODEL, tiny_config

from equipot import load_model
from equipot.config import ConfigError, TrainConfig
from equipot.data import GraphDataset, LabelKeys
from equipot.data.shipped import shipped_dataset_path
from equipot.models import ModelOutput
from equipot.plots import write_evaluation_plots
from equipot.train import LossFunction, LossWeights, TrainingDataError, fit, prediction_errors
from equipot.evaluation import EvaluationResult, evaluate_file, evaluate_model
from equipot.evaluation import column_name
from equipot.train import ErrorSums

DIPOLE_HEAD = {"name": "dipole", "kind": "dipole"}


def ethanol_config(output_dir: Path, **overrides: object) -> TrainConfig:
    data = {"train_file": "shipped:ethanol", "index": ":100", "n_valid": 10, "n_test": 10}
    config = {
        "data": data,
        "model": {**TINY_MODEL, "heads": [DIPOLE_HEAD]},
        "loss": {"targets": {"dipole": {"weight": 10.0}}},
        "max_epochs": 2,
        "batch_size": 10,
        "output_dir": str(output_dir),
        "accelerator": "cpu",
    }
    config.update(overrides)
    return TrainConfig.model_validate(config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    return fit(ethanol_config(tmp_path_factory.mktemp("multitask") / "run"))


def test_fit_with_a_dipole_target_writes_its_metrics(trained):
    assert trained.epochs_trained == 2
    for metrics in (trained.valid_metrics, trained.test_metrics):
        assert metrics is not None and {"energy_per_atom_mae", "forces_mae", "dipole_mae", "dipole_rmse"} <= set(metrics)
        assert 0 < metrics["dipole_mae"] < 1.0  # e·Å, not scaled to meV
    with open(trained.metrics_path) as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 and "valid_dipole_mae_e_A" in rows[0] and "valid_dipole_rmse_e_A" in rows[0]
    assert float(rows[-1]["valid_dipole_mae_e_A"]) > 0


def test_reloaded_model_predicts_the_dipole(trained):
    model = load_model(trained.best_model_path)
    (head,) = model.config.heads
    assert head.name == "dipole" and head.scale is not None and 0.05 < head.scale < 2.0  # RMS of the labels (e·Å)
    frames = GraphDataset.from_file(
        shipped_dataset_path("ethanol"), model.cutoff, keys=LabelKeys(graph_extra={"dipole": "dipole"}), index="100:110", dtype=torch.float32
    )
    result = evaluate_model(model, frames)
    assert result.targets["dipole"].predicted.shape == (10, 3)
    assert result.metrics["dipole_mae"] < float(np.abs(result.targets["dipole"].reference).mean())  # better than zero


def test_evaluate_file_compares_head_targets_and_plots_them(trained, tmp_path):
    import ase.io

    from equipot.data.shipped import read_shipped_dataset

    ase.io.write(tmp_path / "test.xyz", read_shipped_dataset("ethanol_1000K")[:12])
    result = evaluate_file(trained.best_model_path, tmp_path / "test.xyz")
    assert result.metrics["n_dipole"] == 12 and result.targets["dipole"].unit == "e·Å"
    again = EvaluationResult.from_json(result.to_json())
    np.testing.assert_array_equal(again.targets["dipole"].predicted, result.targets["dipole"].predicted)
    paths = write_evaluation_plots(result, tmp_path / "plots")
    assert tmp_path / "plots" / "parity_dipole.png" in paths and (tmp_path / "plots" / "parity_dipole.png").stat().st_size > 0

    # the command line: the label under another key, named with --target
    from typer.testing import CliRunner

    from equipot.cli.main import app

    frames = ase.io.read(tmp_path / "test.xyz", ":")
    for atoms in frames:
        atoms.info["mu"] = atoms.calc.results.pop("dipole")
    ase.io.write(tmp_path / "renamed.xyz", frames)
    arguments = ["evaluate", str(trained.best_model_path), str(tmp_path / "renamed.xyz"), "--out-dir", str(tmp_path / "cli")]
    output = CliRunner().invoke(app, [*arguments, "--target", "dipole=mu"]).output
    assert "dipole" in output and "e·Å" in output and (tmp_path / "cli" / "parity_dipole.png").is_file()


def test_loss_and_metrics_of_a_target_are_in_its_unit():
    weights = LossWeights(energy=0.0, forces=0.0, targets={"dipole": 2.0})
    assert weights.required_targets() == ["dipole"] and weights.outputs() == {"energy", "dipole"}
    output = ModelOutput(energy=torch.zeros(2), atomic_energies=torch.zeros(3), extra={"dipole": torch.ones(2, 3)})

    class Graph:  # the fields prediction_errors reads
        graph_targets = {"dipole": torch.zeros(2, 3)}
        atom_targets: dict = {}

    errors = prediction_errors(output, Graph())  # type: ignore[arg-type]
    assert LossFunction()(errors, weights) == pytest.approx(2.0)
    sums = ErrorSums(terms=weights.terms)
    sums.add(errors, LossFunction())
    metrics = sums.metrics(weights)
    assert metrics["dipole_mae"] == pytest.approx(1.0) and metrics["loss"] == pytest.approx(2.0)
    assert column_name("dipole_mae", {"dipole": "e·Å"}) == "dipole_mae_e_A"
    Graph.graph_targets = {"dipole": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match=r"target 'dipole': the labels have shape \(2, 2\) but the model predicts \(2, 3\)"):
        prediction_errors(output, Graph())  # type: ignore[arg-type]


def test_a_target_needs_a_head_and_labels(molecules_file, tmp_path):
    config = tiny_config(molecules_file, tmp_path / "a", loss={"targets": {"dipole": {"weight": 1.0}}})
    with pytest.raises(ConfigError, match=r"loss.targets names \['dipole'\], but model.heads has no head of that name"):
        fit(config)
    config = tiny_config(
        molecules_file, tmp_path / "b", loss={"targets": {"dipole": {"weight": 1.0, "key": "mu"}}}, model={"heads": [DIPOLE_HEAD]}
    )
    with pytest.raises(TrainingDataError, match=r"12 of 12 structures have no dipole label \(looked up under key 'mu'\)"):
        fit(config)


def test_switch_changes_target_weights():
    from equipot.train import PotentialModule

    config = ethanol_config(Path("unused"), loss={"targets": {"dipole": {"weight": 1.0}}, "switch": {"epoch": 3, "target_weights": {"dipole": 5.0}}})
    module = PotentialModule.__new__(PotentialModule)
    module.config = config
    assert PotentialModule.loss_weights(module, 0)["dipole"] == 1.0
    assert PotentialModule.loss_weights(module, 3)["dipole"] == 5.0
    with pytest.raises(ValueError, match="target_weights names \\['x'\\], which are not in loss.targets"):
        ethanol_config(Path("unused"), loss={"switch": {"epoch": 1, "target_weights": {"x": 1.0}}})
