"""Inverse design: the rigid modes and the projection are exact, objective gradients match
finite differences, and the projected optimiser reaches a target dipole (fixed charges)
and a target EMT energy while the unprojected one drifts rigidly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from scipy.spatial.transform import Rotation

from equipot.properties.design import (
    design,
    dipole_objective,
    energy_objective,
    project_rigid,
    rigid_modes,
    sum_objective,
    target_energy_objective,
    torch_objective,
)

CHARGES = [-0.834, 0.417, 0.417]


def _water():
    atoms = molecule("H2O")
    atoms.rotate(37, "x")
    atoms.rotate(20, "z")
    return atoms


def _dipole(atoms) -> float:
    return float(np.linalg.norm((np.array(CHARGES)[:, None] * atoms.positions).sum(axis=0)))


def test_rigid_modes_span_translations_and_rotations() -> None:
    positions = np.random.default_rng(0).normal(size=(5, 3))
    modes = rigid_modes(positions)
    assert modes.shape == (6, 15) and modes @ modes.T == pytest.approx(np.eye(6), abs=1e-12)
    assert rigid_modes(np.array([[0, 0, 0], [0, 0, 1.0], [0, 0, 2.5]])).shape[0] == 5  # linear: 2 rotations
    spin = Rotation.from_rotvec([0.0, 0.0, 1e-6]).apply(positions - positions.mean(0)) + positions.mean(0) - positions
    rigid = (spin + np.array([0.3, -0.2, 0.1])) * 1e3
    assert np.abs(project_rigid(rigid, positions)).max() < 1e-6 * np.abs(rigid).max()
    internal = project_rigid(np.random.default_rng(1).normal(size=(5, 3)), positions)
    assert project_rigid(internal, positions) == pytest.approx(internal, abs=1e-12)


@pytest.mark.parametrize("make", [lambda atoms: dipole_objective(CHARGES, 0.6),
                                  lambda atoms: target_energy_objective(EMT(), atoms, 1.0)], ids=["dipole", "emt"])
def test_gradients_match_finite_differences_and_have_no_rigid_part(make) -> None:
    atoms = _water()
    atoms.positions[1] += [0.05, -0.02, 0.03]
    objective = make(atoms)
    value, gradient = objective(atoms.positions)
    numeric = np.zeros_like(gradient)
    for index in np.ndindex(*gradient.shape):
        shifted = [atoms.positions.copy() for _ in range(2)]
        shifted[0][index] += 1e-5
        shifted[1][index] -= 1e-5
        numeric[index] = (objective(shifted[0])[0] - objective(shifted[1])[0]) / 2e-5
    assert gradient == pytest.approx(numeric, abs=1e-6 * max(1.0, np.abs(gradient).max()))
    assert np.abs(rigid_modes(atoms.positions) @ gradient.reshape(-1)).max() < 1e-6 * max(1.0, np.abs(gradient).max())


def test_projected_design_reaches_a_target_dipole_without_rigid_drift() -> None:
    atoms = _water()
    assert _dipole(atoms) == pytest.approx(0.497, abs=1e-3)
    projected = design(atoms, dipole_objective(CHARGES, 0.6), steps=1000, learning_rate=0.01, tolerance=1e-10)
    plain = design(atoms, dipole_objective(CHARGES, 0.6), steps=1000, learning_rate=0.01, tolerance=1e-10,
                   project=False)
    assert projected.converged and _dipole(projected.atoms) == pytest.approx(0.6, abs=1e-4)
    assert plain.converged and _dipole(plain.atoms) == pytest.approx(0.6, abs=1e-4)
    assert projected.atoms.positions.mean(0) == pytest.approx(atoms.positions.mean(0), abs=1e-10)
    assert projected.rigid_drift_A < 0.05 * plain.rigid_drift_A  # Adam's scaling puts rigid motion back in
    assert np.all(np.diff(projected.values[:5]) < 0)


def test_design_steers_an_emt_cluster_to_a_target_energy_and_combines_objectives() -> None:
    cluster = Icosahedron("Cu", 2)
    cluster.rattle(0.05, seed=1)
    energy = energy_objective(EMT(), cluster)
    start = energy(cluster.positions)[0]
    result = design(cluster, target_energy_objective(EMT(), cluster, start - 1.0), steps=600, learning_rate=0.01)
    assert result.converged and energy(result.atoms.positions)[0] == pytest.approx(start - 1.0, abs=1e-3)
    double = sum_objective([(2.0, energy), (-1.0, energy)])
    assert double(cluster.positions)[0] == pytest.approx(start)


def test_torch_objective_and_bad_arguments() -> None:
    objective = torch_objective(lambda r: ((r[0] - r[1]) ** 2).sum())
    value, gradient = objective(np.array([[0.0, 0, 0], [1.0, 2.0, 2.0]]))
    assert value == pytest.approx(9.0) and gradient == pytest.approx(np.array([[-2.0, -4, -4], [2, 4, 4]]))
    assert torch.get_default_dtype() == torch.float32
    with pytest.raises(ValueError, match="steps must be >= 1 and learning_rate, max_step positive"):
        design(_water(), objective, steps=0)


def test_a_model_energy_is_an_objective(molecule_model) -> None:
    atoms = _water()
    start = energy_objective(molecule_model, atoms)(atoms.positions)[0]
    objective = target_energy_objective(molecule_model, atoms, start + 0.05)
    value, gradient = objective(atoms.positions)
    shifted = atoms.positions.copy()
    shifted[0, 2] += 1e-5
    back = atoms.positions.copy()
    back[0, 2] -= 1e-5
    assert gradient[0, 2] == pytest.approx((objective(shifted)[0] - objective(back)[0]) / 2e-5, rel=1e-5, abs=1e-8)
    result = design(atoms, objective, steps=400, learning_rate=0.01, tolerance=1e-8)
    assert result.values[-1] < 1e-3 * value
