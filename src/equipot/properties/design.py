"""Inverse design: move the atoms of a structure to optimise an invariant objective.

An objective maps positions [N, 3] (Å) to a value and its gradient [N, 3]: the energy of
any energy source (a model or an ASE calculator, through its forces), a squared distance
of the energy to a target, the dipole magnitude of fixed partial charges, any function
written in torch (autograd gives the gradient), or a weighted sum of these.

For an invariant objective rigid translations and rotations change nothing, yet an
optimiser that rescales coordinates one by one (Adam; any diagonal preconditioner) or
that caps the largest displacement spends part of each step on them. `design` projects
both the gradient and the step onto the internal subspace at the current positions (the
orthogonal complement of the 3 translations and 3 rotations about the centroid; 2
rotations for a linear molecule) before moving the atoms. ``project=False`` runs the same
optimiser without the projection, for comparison.

Example::

    >>> from ase.build import molecule
    >>> from ase.calculators.emt import EMT
    >>> atoms = molecule("H2O")
    >>> result = design(atoms, target_energy_objective(EMT(), atoms, target=0.5))   # doctest: +SKIP
    >>> result.steps, result.values[-1]                                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from ._source import EnergySource, as_calculator, attach, check_atoms

__all__ = [
    "DesignResult",
    "Objective",
    "design",
    "dipole_objective",
    "energy_objective",
    "project_rigid",
    "rigid_modes",
    "sum_objective",
    "target_energy_objective",
    "torch_objective",
]

#: positions [N, 3] (Å) -> (value, gradient [N, 3] in value unit per Å)
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def rigid_modes(positions: np.ndarray) -> np.ndarray:
    """Orthonormal rigid-body displacements [n_modes, 3N] at ``positions`` [N, 3]: 3
    translations and the rotations about the centroid (3, or 2 for collinear atoms, 0 for
    one atom)."""
    positions = np.asarray(positions, dtype=np.float64)
    n = len(positions)
    centred = positions - positions.mean(axis=0)
    modes = [np.tile(np.eye(3)[axis], n) for axis in range(3)]
    modes += [np.cross(np.eye(3)[axis], centred).reshape(-1) for axis in range(3)]
    basis, singular, _ = np.linalg.svd(np.array(modes).T, full_matrices=False)
    scale = max(1.0, float(np.abs(centred).max()))
    return basis[:, singular > 1e-8 * scale].T


def project_rigid(vector: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``vector`` [N, 3] without its rigid translation and rotation parts at ``positions``."""
    modes = rigid_modes(positions)
    flat = np.asarray(vector, dtype=np.float64).reshape(-1)
    return (flat - modes.T @ (modes @ flat)).reshape(-1, 3)


def energy_objective(source: EnergySource, atoms: Atoms) -> Objective:
    """The potential energy (eV) of ``atoms`` (cell, species) with the positions given;
    gradient = -forces. ``source``: an equipot potential or any ASE calculator."""
    check_atoms(atoms)
    work = attach(atoms, as_calculator(source))

    def objective(positions: np.ndarray) -> tuple[float, np.ndarray]:
        work.positions = positions
        return float(work.get_potential_energy()), -work.get_forces()

    return objective


def target_energy_objective(source: EnergySource, atoms: Atoms, target: float) -> Objective:
    """``(E - target)^2`` (eV²): steer the energy of ``atoms`` to ``target`` eV."""
    energy = energy_objective(source, atoms)

    def objective(positions: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = energy(positions)
        return (value - target) ** 2, 2.0 * (value - target) * gradient

    return objective


def torch_objective(function: Callable[[torch.Tensor], torch.Tensor]) -> Objective:
    """An objective from a torch function of positions [N, 3] (float64) returning a scalar;
    the gradient by autograd. Use it for a model output: build the graph inside
    ``function`` from the positions it receives."""

    def objective(positions: np.ndarray) -> tuple[float, np.ndarray]:
        tensor = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
        with torch.enable_grad():
            value = function(tensor)
            (gradient,) = torch.autograd.grad(value, tensor)
        return float(value.detach()), gradient.detach().numpy().astype(np.float64)

    return objective


def dipole_objective(charges: Sequence[float], target: float) -> Objective:
    """``(|mu| - target)^2`` with ``mu = sum_i q_i (r_i - centroid)`` (e·Å) for fixed
    partial ``charges`` (e); ``target`` in e·Å (1 D = 0.2082 e·Å). Invariant for a neutral
    set of charges."""
    q = torch.as_tensor(np.asarray(charges, dtype=np.float64))

    def squared_distance(positions: torch.Tensor) -> torch.Tensor:
        dipole = (q[:, None] * (positions - positions.mean(dim=0))).sum(dim=0)
        return (torch.linalg.vector_norm(dipole) - target) ** 2

    return torch_objective(squared_distance)


def sum_objective(parts: Sequence[tuple[float, Objective]]) -> Objective:
    """``sum_k w_k f_k`` of ``(weight, objective)`` pairs."""

    def objective(positions: np.ndarray) -> tuple[float, np.ndarray]:
        total, gradient = 0.0, np.zeros_like(positions, dtype=np.float64)
        for weight, part in parts:
            value, part_gradient = part(positions)
            total += weight * value
            gradient += weight * part_gradient
        return total, gradient

    return objective


@dataclass
class DesignResult:
    """``atoms``: the designed structure; ``values`` [steps + 1] the objective at each
    step; ``steps`` taken; ``converged``: the objective fell below ``tolerance`` (or the
    projected gradient below ``gtol``); ``rigid_drift_A``: RMS displacement of the
    centroid plus the best-fit rotation between start and end (Å) — what the optimiser
    spent on rigid motion; ``projected``: whether the projection was on."""

    atoms: Atoms
    values: np.ndarray
    steps: int
    converged: bool
    rigid_drift_A: float
    projected: bool


def _rigid_drift(start: np.ndarray, end: np.ndarray) -> float:
    """RMS distance between ``start`` and ``start`` moved rigidly onto ``end`` (Kabsch)."""
    a, b = start - start.mean(axis=0), end - end.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, 1.0, d]) @ vt
    moved = a @ rotation + end.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum((moved - start) ** 2, axis=1))))


def design(
    atoms: Atoms,
    objective: Objective,
    steps: int = 500,
    learning_rate: float = 0.02,
    max_step: float = 0.1,
    tolerance: float = 1e-8,
    gtol: float = 1e-6,
    project: bool = True,
    betas: tuple[float, float] = (0.9, 0.999),
) -> DesignResult:
    """Minimise ``objective`` over the positions of ``atoms`` with projected Adam.

    Each step: the gradient is projected off rigid motions (``project=True``), Adam's
    moments are updated with it, the step is projected again (Adam's per-coordinate
    scaling puts rigid motion back in) and capped so that no atom moves more than
    ``max_step`` Å. Stops when the objective is below ``tolerance``, the projected
    gradient's largest component below ``gtol``, or after ``steps`` steps.

    Args:
        atoms: the start (not changed; the result holds a copy).
        objective: see `Objective`; e.g. `target_energy_objective`, `dipole_objective`.
        learning_rate: Adam's step size (Å).
    """
    check_atoms(atoms)
    if steps < 1 or not (learning_rate > 0 and max_step > 0):
        raise ValueError(f"steps must be >= 1 and learning_rate, max_step positive, got {steps}, {learning_rate}, "
                         f"{max_step}")
    positions = atoms.positions.astype(np.float64).copy()
    first, second = np.zeros_like(positions), np.zeros_like(positions)
    value, gradient = objective(positions)
    values, converged, taken = [value], False, 0
    for taken in range(1, steps + 1):
        if project:
            gradient = project_rigid(gradient, positions)
        if value < tolerance or np.abs(gradient).max() < gtol:
            converged, taken = True, taken - 1
            break
        first = betas[0] * first + (1 - betas[0]) * gradient
        second = betas[1] * second + (1 - betas[1]) * gradient**2
        step = -learning_rate * (first / (1 - betas[0] ** taken)) / (np.sqrt(second / (1 - betas[1] ** taken)) + 1e-12)
        if project:
            step = project_rigid(step, positions)
        longest = np.linalg.norm(step, axis=1).max()
        if longest > max_step:
            step *= max_step / longest
        positions = positions + step
        value, gradient = objective(positions)
        values.append(value)
    else:
        converged = value < tolerance
    result = atoms.copy()
    result.positions = positions
    return DesignResult(atoms=result, values=np.array(values), steps=taken, converged=bool(converged),
                        rigid_drift_A=_rigid_drift(atoms.positions, positions), projected=project)
