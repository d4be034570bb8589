"""Newton-Raphson relaxation with the exact Hessian, made safe for non-convex regions.

Each iteration diagonalizes the Hessian in the space orthogonal to rigid translations
(and rotations, for a molecule), which carry no force and are filtered out. The step is
``s = -sum_k (v_k . g) / max(|lambda_k|, floor) v_k``: positive-definite projection by
absolute eigenvalues, so a negative-curvature mode is followed downhill instead of
towards the saddle. Along the lowest mode, if its curvature is negative, the step goes
downhill all the way to the trust boundary (the quadratic model has no minimum there),
also from an exact saddle point (zero force along the mode), so the optimizer leaves
saddles that gradient-based optimizers (BFGS, FIRE) accept as converged. Steps are limited by a
trust radius (largest atomic displacement, Å), adapted from the ratio of actual to
predicted energy change; steps that raise the energy are rejected. Convergence needs
``max |F_i| < fmax`` and no negative internal eigenvalue below ``-negative_tolerance``.

With an equipot model the Hessian is exact (autograd); with an ASE calculator it comes
from finite differences (6N force calls per iteration; ``n_force_calls`` counts them).

Example::

    >>> from ase.cluster import Icosahedron
    >>> from ase.calculators.emt import EMT
    >>> result = newton_relax(EMT(), Icosahedron("Cu", 2), fmax=1e-4)  # doctest: +SKIP
    >>> result.converged, result.n_steps                                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from ._source import EnergySource, as_calculator, attach, check_atoms, is_model
from .hessian import hessian_of
from .vibrations import external_basis

__all__ = ["NewtonResult", "newton_relax", "newton_step"]


@dataclass
class NewtonResult:
    """Outcome of `newton_relax`.

    - ``atoms``: the final structure (a copy, calculator attached)
    - ``n_steps``: iterations (accepted and rejected steps); ``n_hessians`` Hessians computed
    - ``n_force_calls``: energy/force evaluations, including those of finite-difference Hessians
    - ``energies`` / ``fmax_history``: eV and eV/Å at each accepted point
    - ``min_eigenvalue``: lowest internal Hessian eigenvalue at the end, eV/Å²
    """

    atoms: Atoms
    converged: bool
    n_steps: int
    n_hessians: int
    n_force_calls: int
    energies: list[float] = field(default_factory=list)
    fmax_history: list[float] = field(default_factory=list)
    min_eigenvalue: float = float("nan")


def _internal_eigensystem(hessian: np.ndarray, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs [k], [3N, k] of the Hessian restricted to non-rigid motions."""
    external = external_basis(atoms, mass_weighted=False)
    q, _ = np.linalg.qr(external.T, mode="complete")
    internal = q[:, external.shape[0] :]
    values, vectors = np.linalg.eigh(internal.T @ hessian @ internal)
    return values, internal @ vectors


def newton_step(
    gradient: np.ndarray,
    values: np.ndarray,
    vectors: np.ndarray,
    trust_radius: float,
    floor: float,
    negative_tolerance: float,
) -> np.ndarray:
    """The step [3N] (Å) from the gradient [3N] (eV/Å) and internal eigenpairs, scaled so
    that no atom moves more than ``trust_radius`` Å."""
    components = vectors.T @ gradient
    coefficients = -components / np.maximum(np.abs(values), floor)
    lowest = int(np.argmin(values))
    if values[lowest] < -negative_tolerance:
        # along negative curvature the quadratic model is unbounded below: go downhill to
        # the trust boundary (also from a saddle, where there is no force along the mode)
        downhill = -np.sign(components[lowest]) if abs(components[lowest]) > 1e-12 else 1.0
        coefficients[lowest] = downhill * trust_radius / max(np.abs(vectors[:, lowest]).max(), 1e-12)
    step = vectors @ coefficients
    largest = float(np.linalg.norm(step.reshape(-1, 3), axis=1).max())
    return step * min(1.0, trust_radius / largest) if largest > 0 else step


def newton_relax(
    source: EnergySource,
    atoms: Atoms,
    fmax: float = 1e-3,
    max_steps: int = 100,
    trust_radius: float = 0.1,
    max_trust_radius: float = 0.5,
    eigenvalue_floor: float = 1e-2,
    negative_tolerance: float = 1e-3,
    delta: float | None = None,
) -> NewtonResult:
    """Relax ``atoms`` (positions only) to ``max |F| < fmax`` eV/Å at a minimum.

    ``eigenvalue_floor`` (eV/Å²) bounds the step along flat modes; ``delta`` (Å) is the
    finite-difference step of the Hessian for a calculator (default 1e-3).
    """
    check_atoms(atoms)
    if fmax <= 0 or trust_radius <= 0:
        raise ValueError(f"fmax and trust_radius must be positive, got {fmax} and {trust_radius}")
    work = attach(atoms, as_calculator(source))
    per_hessian = 0 if is_model(source) else 6 * len(atoms)
    energy, forces = work.get_potential_energy(), work.get_forces()
    result = NewtonResult(work, False, 0, 0, 1, [energy], [float(np.linalg.norm(forces, axis=1).max())])
    values = vectors = hessian = None
    while result.n_steps < max_steps:
        if hessian is None:
            hessian = hessian_of(source, work, delta=delta).matrix
            values, vectors = _internal_eigensystem(hessian, work)
            result.n_hessians += 1
            result.n_force_calls += per_hessian
            result.min_eigenvalue = float(values.min())
        if result.fmax_history[-1] < fmax and values.min() >= -negative_tolerance:
            result.converged = True
            break
        gradient = -forces.reshape(-1)
        step = newton_step(gradient, values, vectors, trust_radius, eigenvalue_floor, negative_tolerance)
        predicted = gradient @ step + 0.5 * step @ hessian @ step
        start = work.positions.copy()
        work.positions = start + step.reshape(-1, 3)
        new_energy = work.get_potential_energy()
        result.n_steps += 1
        result.n_force_calls += 1
        actual = new_energy - energy
        hit_boundary = np.linalg.norm(step.reshape(-1, 3), axis=1).max() > 0.99 * trust_radius
        if actual > 1e-9 * max(1.0, abs(energy)):  # the energy rose: reject, shrink
            work.positions = start
            trust_radius *= 0.5
            continue
        ratio = actual / predicted if predicted < 0 else 1.0
        if ratio < 0.25:
            trust_radius *= 0.5
        elif ratio > 0.75 and hit_boundary:
            trust_radius = min(2.0 * trust_radius, max_trust_radius)
        energy, forces = new_energy, work.get_forces()
        result.energies.append(float(energy))
        result.fmax_history.append(float(np.linalg.norm(forces, axis=1).max()))
        hessian = None
    return result
