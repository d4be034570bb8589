"""One metric pipeline: training's running sums and an evaluation's arrays give the same
names and values; which outputs a set of labels needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equipot.evaluation import EvaluationResult, TargetValues, compute_metrics, outputs_for_labels
from equipot.o3 import voigt_from_matrix
from equipot.train import ErrorSums, LossFunction, LossWeights


def test_training_sums_and_evaluation_arrays_agree() -> None:
    generator = torch.Generator().manual_seed(0)
    energy = torch.randn(5, generator=generator, dtype=torch.float64) * 0.01  # eV/atom
    forces = torch.randn(12, 3, generator=generator, dtype=torch.float64) * 0.1  # eV/Å
    stress = torch.randn(5, 3, 3, generator=generator, dtype=torch.float64) * 1e-3
    stress = stress + stress.transpose(1, 2)  # eV/Å³, symmetric
    dipole = torch.randn(5, 3, generator=generator, dtype=torch.float64)  # e·Å
    sums = ErrorSums(terms=("energy", "forces", "stress", "dipole"))
    sums.add({"energy": energy, "forces": forces, "stress": stress, "dipole": dipole}, LossFunction())
    from_sums = sums.metrics(LossWeights(targets={"dipole": 1.0}))

    zeros = np.zeros
    result = EvaluationResult(
        energy_per_atom_reference=zeros(5), energy_per_atom_predicted=energy.numpy(), energy_n_atoms=np.full(5, 3),
        forces_reference=zeros((12, 3)), forces_predicted=forces.numpy(), forces_atomic_numbers=np.full(12, 29),
        stress_reference=zeros((5, 6)), stress_predicted=voigt_from_matrix(stress.numpy()),
        targets={"dipole": TargetValues(zeros((5, 3)), dipole.numpy(), "e·Å")},
    )
    from_arrays = compute_metrics(result)
    names = [f"{q}_{m}" for q in ("energy_per_atom", "forces", "stress", "dipole") for m in ("mae", "rmse")]
    assert set(from_sums) == {"loss", *names}
    for name in names:
        assert from_arrays[name] == pytest.approx(from_sums[name], rel=1e-12), name
    assert from_arrays["forces_mae"] == pytest.approx(1000 * float(forces.abs().mean()), rel=1e-12)  # meV/Å
    assert from_arrays["dipole_rmse"] == pytest.approx(float(dipole.square().mean().sqrt()), rel=1e-12)  # e·Å


@pytest.mark.parametrize(
    ("labels", "targets", "expected"),
    [
        ({"energy"}, (), {"energy"}),
        ({"energy", "forces", "stress"}, (), {"energy", "forces", "stress"}),
        ({"forces", "dipole"}, ("dipole", "charges"), {"energy", "forces", "dipole"}),
        ({"dipole"}, (), {"energy"}),  # a label no head predicts is not asked for
    ],
)
def test_outputs_for_labels(labels: set[str], targets: tuple[str, ...], expected: set[str]) -> None:
    assert outputs_for_labels(labels, targets) == expected
