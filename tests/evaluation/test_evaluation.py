"""`evaluate_model` against metrics computed by hand (numpy) from EMT reference labels and
an untrained model's predictions through the independent ASE-calculator path."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from rich.console import Console

from equipot import EquipotCalculator, EquivariantPotential, save_model
from equipot.data import GraphDataset, LabelKeys
from equipot.evaluation import (
    EvaluationResult,
    compute_metrics,
    evaluate_file,
    evaluate_model,
    format_metrics_table,
)

CUTOFF = 3.0


def _label_with_emt(atoms: Atoms) -> Atoms:
    atoms.calc = EMT()
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if atoms.pbc.all():
        results["stress"] = atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _structures() -> list[Atoms]:
    """Periodic Cu and CuAu cells of 4 and 8 atoms (energy, forces, stress) and a
    non-periodic CuAu cluster (energy and forces only): uneven batches, mixed labels."""
    rng = np.random.default_rng(7)
    structures = []
    for index in range(6):
        atoms = bulk("Cu", cubic=True, a=3.61)
        if index % 2:
            atoms = atoms.repeat((2, 1, 1))
        if index >= 2:
            atoms.symbols[[0, 3]] = "Au"
        strain = np.eye(3) + 0.02 * rng.standard_normal((3, 3))
        atoms.set_cell(atoms.cell @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.rattle(0.05, seed=index)
        structures.append(_label_with_emt(atoms))
    cluster = Atoms("Cu3Au", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.3, 1.3, 2.0]])
    structures.append(_label_with_emt(cluster))
    return structures


@pytest.fixture(scope="module")
def structures() -> list[Atoms]:
    return _structures()


@pytest.fixture(scope="module")
def model() -> EquivariantPotential:
    torch.manual_seed(0)
    return EquivariantPotential(
        species=["Cu", "Au"], cutoff=CUTOFF, num_channels=4, lmax=1, hidden_lmax=1, num_layers=2,
        correlation=2, dtype=torch.float64,
    )


@pytest.fixture(scope="module")
def result(model, structures) -> EvaluationResult:
    dataset = GraphDataset(structures, cutoff=CUTOFF, source="emt.xyz")
    return evaluate_model(model, dataset, batch_size=3)


def _hand_metrics(model: EquivariantPotential, structures: list[Atoms]) -> dict:
    """Metrics from numpy, predictions through `EquipotCalculator` one structure at a time."""
    calculator = EquipotCalculator(model)
    energy_errors, force_errors, stress_errors, numbers = [], [], [], []
    for atoms in structures:
        reference = atoms.calc.results
        copy = atoms.copy()
        copy.calc = calculator
        energy_errors.append((copy.get_potential_energy() - reference["energy"]) / len(atoms))
        force_errors.append(copy.get_forces() - reference["forces"])
        numbers.append(atoms.numbers)
        if "stress" in reference:
            stress_errors.append(copy.get_stress() - reference["stress"])
    energy, forces, stress = np.array(energy_errors), np.concatenate(force_errors), np.array(stress_errors)
    numbers = np.concatenate(numbers)
    hand = {
        "energy_per_atom_mae": 1000 * np.abs(energy).mean(),
        "energy_per_atom_rmse": 1000 * np.sqrt((energy**2).mean()),
        "forces_mae": 1000 * np.abs(forces).mean(),
        "forces_rmse": 1000 * np.sqrt((forces**2).mean()),
        "stress_mae": 1000 * np.abs(stress).mean(),
        "stress_rmse": 1000 * np.sqrt((stress**2).mean()),
    }
    for symbol, z in (("Cu", 29), ("Au", 79)):
        hand[f"forces_mae {symbol}"] = 1000 * np.abs(forces[numbers == z]).mean()
        hand[f"forces_rmse {symbol}"] = 1000 * np.sqrt((forces[numbers == z] ** 2).mean())
    return hand


def test_metrics_match_numpy_computed_by_hand(model, structures, result) -> None:
    hand = _hand_metrics(model, structures)
    metrics = result.metrics
    for key in ("energy_per_atom_mae", "energy_per_atom_rmse", "forces_mae", "forces_rmse", "stress_mae", "stress_rmse"):
        assert metrics[key] == pytest.approx(hand[key], rel=1e-9), key
    for symbol in ("Cu", "Au"):
        assert metrics["forces_by_element"][symbol]["mae"] == pytest.approx(hand[f"forces_mae {symbol}"], rel=1e-9)
        assert metrics["forces_by_element"][symbol]["rmse"] == pytest.approx(hand[f"forces_rmse {symbol}"], rel=1e-9)
    n_atoms = sum(len(a) for a in structures)
    n_au = sum(int((a.numbers == 79).sum()) for a in structures)
    assert metrics["forces_by_element"]["Au"]["n_atoms"] == n_au
    assert metrics["forces_by_element"]["Cu"]["n_atoms"] == n_atoms - n_au
    assert (metrics["n_structures"], metrics["n_atoms"], metrics["n_force_atoms"]) == (7, n_atoms, n_atoms)
    assert metrics["n_stress_structures"] == 6  # the cluster has no stress label
    assert metrics["forces_mae"] > 0 and metrics["energy_per_atom_rmse"] >= metrics["energy_per_atom_mae"]


def test_arrays_have_documented_shapes_and_units(structures, result) -> None:
    n_atoms = sum(len(a) for a in structures)
    assert result.energy_per_atom_reference.shape == (7,)
    assert result.forces_predicted.shape == (n_atoms, 3)
    assert result.stress_reference.shape == (6, 6)
    first = structures[0]
    assert result.energy_per_atom_reference[0] == pytest.approx(first.calc.results["energy"] / len(first))
    np.testing.assert_allclose(result.stress_reference[0], first.calc.results["stress"])  # Voigt, eV/Å³
    np.testing.assert_array_equal(result.forces_atomic_numbers, np.concatenate([a.numbers for a in structures]))


def test_batch_size_does_not_change_the_result_and_training_mode_is_restored(model, structures, result) -> None:
    dataset = GraphDataset(structures, cutoff=CUTOFF)
    model.train()
    try:
        single = evaluate_model(model, dataset, batch_size=1)
        assert model.training
    finally:
        model.eval()
    for key in ("energy_per_atom_mae", "forces_rmse", "stress_mae"):
        assert single.metrics[key] == pytest.approx(result.metrics[key], rel=1e-10)


def test_json_round_trip(tmp_path, result) -> None:
    path = tmp_path / "out" / "evaluation.json"
    text = result.to_json(path)
    data = json.loads(path.read_text())
    assert data["metrics"] == json.loads(text)["metrics"] == result.metrics
    back = EvaluationResult.from_json(path)
    assert back.metrics == result.metrics and back.names == result.names and back.source == "emt.xyz"
    for name in ("energy_per_atom_predicted", "forces_reference", "forces_atomic_numbers", "stress_predicted"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    assert back.forces_atomic_numbers.dtype == np.int64
    summary = json.loads(result.to_json(include_arrays=False))
    assert "arrays" not in summary and summary["metrics"]["forces_by_element"]["Au"]["n_atoms"] > 0
    with pytest.raises(ValueError, match="include_arrays=True"):
        EvaluationResult.from_dict(summary)


def test_metrics_table_lists_every_quantity(result) -> None:
    console = Console(record=True, width=120)
    console.print(format_metrics_table(result.metrics))
    text = console.export_text()
    for label in ("energy per atom", "meV/atom", "forces Cu", "forces Au", "meV/Å³", "7 structures"):
        assert label in text


def test_evaluate_file_reads_model_and_extxyz(tmp_path, model, structures, result) -> None:
    data_path = tmp_path / "test.xyz"
    ase.io.write(data_path, structures, format="extxyz")
    model_path = save_model(model, tmp_path / "model.pt")
    from_file = evaluate_file(model_path, data_path, keys=LabelKeys(), batch_size=4)
    for key in ("energy_per_atom_mae", "forces_mae", "stress_rmse"):
        assert from_file.metrics[key] == pytest.approx(result.metrics[key], rel=1e-8)
    assert from_file.source == "test.xyz"


def test_labels_absent_in_the_data_are_left_out(model, structures) -> None:
    no_stress = GraphDataset(structures[:3], cutoff=CUTOFF, keys=LabelKeys(stress=None))
    metrics = evaluate_model(model, no_stress).metrics
    assert "stress_mae" not in metrics and "forces_mae" in metrics
    assert not evaluate_model(model, no_stress).has_stress
    unlabelled = GraphDataset(structures[:2], cutoff=CUTOFF, keys=LabelKeys(energy=None, forces=None, stress=None))
    with pytest.raises(ValueError, match="no energy, forces or stress labels"):
        evaluate_model(model, unlabelled)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_model(model, no_stress, batch_size=0)


def test_compute_metrics_on_known_errors() -> None:
    """Errors chosen by hand: energy errors +-1 meV/atom, forces 3 and -4 meV/Å."""
    result = EvaluationResult(
        energy_per_atom_reference=np.array([0.0, 0.0]),
        energy_per_atom_predicted=np.array([0.001, -0.001]),
        energy_n_atoms=np.array([1, 1]),
        forces_reference=np.zeros((2, 3)),
        forces_predicted=np.array([[0.003, 0.003, 0.003], [-0.004, -0.004, -0.004]]),
        forces_atomic_numbers=np.array([1, 8]),
        stress_reference=np.zeros((0, 6)),
        stress_predicted=np.zeros((0, 6)),
    )
    metrics = compute_metrics(result)
    assert metrics["energy_per_atom_mae"] == pytest.approx(1.0)
    assert metrics["forces_mae"] == pytest.approx(3.5)
    assert metrics["forces_rmse"] == pytest.approx(np.sqrt(12.5))
    assert metrics["forces_by_element"] == {
        "H": {"mae": pytest.approx(3.0), "rmse": pytest.approx(3.0), "n_atoms": 1},
        "O": {"mae": pytest.approx(4.0), "rmse": pytest.approx(4.0), "n_atoms": 1},
    }
    assert "stress_mae" not in metrics
