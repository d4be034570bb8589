"""Finite-difference checks of forces and stress against the energy, in float64."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from ..models import Potential
from .equivariance import evaluate, evaluate_many

__all__ = ["assert_forces_match_finite_differences", "assert_stress_match_finite_differences"]


def _energies(model: Potential, structures: list[Atoms]) -> np.ndarray:
    return np.array([float(result["energy"]) for result in evaluate_many(model, structures, ("energy",))])


def _require_float64(model: Potential) -> None:
    if model.dtype != torch.float64:
        raise TypeError("finite-difference checks need a float64 model, e.g. model.converted(torch.float64)")


def assert_forces_match_finite_differences(
    model: Potential, atoms: Atoms, delta: float = 1e-5, rtol: float = 1e-7, max_atoms: int = 6
) -> None:
    """Compare autograd forces with central differences ``-(E(r+d) - E(r-d)) / 2d`` in float64.

    Checks the first ``max_atoms`` atoms (all three components). ``delta`` in Å; the
    tolerance is ``rtol`` times the largest force (at least 1 eV/Å). Raises
    ``AssertionError`` with the worst atom and component.
    """
    _require_float64(model)
    forces = evaluate(model, atoms, ("energy", "forces"))["forces"]
    atol = rtol * max(1.0, float(np.abs(forces).max()))
    checked = [(atom, axis) for atom in range(min(len(atoms), max_atoms)) for axis in range(3)]
    displaced = []
    for atom, axis in checked:
        for sign in (1.0, -1.0):
            copy = atoms.copy()
            copy.positions[atom, axis] += sign * delta
            displaced.append(copy)
    energies = _energies(model, displaced).reshape(-1, 2)
    worst = (0.0, 0, 0, 0.0, 0.0)
    for (atom, axis), (plus, minus) in zip(checked, energies):
        numeric = -(plus - minus) / (2 * delta)
        error = abs(numeric - forces[atom, axis])
        if error > worst[0]:
            worst = (error, atom, axis, forces[atom, axis], numeric)
    if worst[0] > atol:
        error, atom, axis, analytic, numeric = worst
        raise AssertionError(
            f"force on atom {atom} along axis {axis}: autograd {analytic:.10f} vs finite "
            f"difference {numeric:.10f} eV/Å (error {error:.2e} > {atol:.1e})"
        )


def assert_stress_match_finite_differences(
    model: Potential, atoms: Atoms, delta: float = 2e-6, rtol: float = 1e-7
) -> None:
    """Compare the model stress (eV/Å³) with ``(E(eps+d) - E(eps-d)) / (2 d V)`` for each of
    the six symmetric strain components, in float64; tolerance ``rtol`` times the largest
    stress component (at least 1 eV/Å³). The strain step ``delta`` of 2e-6 keeps the central
    difference's error (delta² times the third derivative) below the tolerance for stiff
    untrained models (1e-5 did not, with the radial networks' variance-preserving init);
    float64 rounding stays far below it."""
    _require_float64(model)
    stress = evaluate(model, atoms, ("energy", "stress"))["stress"]
    atol = rtol * max(1.0, float(np.abs(stress).max()))
    volume = atoms.get_volume()
    cell = np.asarray(atoms.cell)
    components = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    strained_copies = []
    for i, j in components:
        for sign in (1.0, -1.0):
            strain = np.eye(3)
            # symmetric strain: a shear of delta is split between (i, j) and (j, i)
            strain[i, j] += sign * delta / (1.0 if i == j else 2.0)
            if i != j:
                strain[j, i] += sign * delta / 2.0
            strained = atoms.copy()
            strained.set_cell(cell @ strain, scale_atoms=True)
            strained_copies.append(strained)
    energies = _energies(model, strained_copies).reshape(-1, 2)
    for (i, j), (plus, minus) in zip(components, energies):
        numeric = (plus - minus) / (2 * delta * volume)
        if abs(numeric - stress[i, j]) > atol:
            raise AssertionError(
                f"stress[{i},{j}]: autograd {stress[i, j]:.10f} vs finite difference "
                f"{numeric:.10f} eV/Å³ (error {abs(numeric - stress[i, j]):.2e} > {atol:.1e})"
            )
