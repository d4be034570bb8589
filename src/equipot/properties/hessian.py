"""The Hessian ``H = d2E / dr dr`` [3N, 3N] in eV/Å²: exact by automatic differentiation
of an equipot model, or by central finite differences of any calculator's forces.

Row ``3 i + a`` and column ``3 j + b`` hold ``d2E / dr_ia dr_jb`` (atom-major, Cartesian
minor). For a periodic cell it is the Hessian of the periodic energy: moving atom ``i``
moves all its images, i.e. the Gamma-point force constants of the cell.

Example::

    >>> import torch
    >>> from ase.build import molecule
    >>> from equipot import EquivariantPotential
    >>> model = EquivariantPotential(species=["H", "O"], cutoff=3.0, num_channels=4,
    ...                              num_layers=1, dtype=torch.float64)
    >>> result = exact_hessian(model, molecule("H2O"))
    >>> result.matrix.shape, result.method, result.max_asymmetry < 1e-10
    ((9, 9), 'autograd-vmap', True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from ..data import graph_from_atoms
from ..models import Potential
from ._source import EnergySource, as_calculator, attach, check_atoms, is_model

__all__ = [
    "ASYMMETRY_TOLERANCE",
    "HessianResult",
    "exact_hessian",
    "finite_difference_hessian",
    "hessian",
    "hessian_of",
]

#: relative asymmetry (max |H - H^T| / max(1, max |H|)) above which an exact Hessian warns
ASYMMETRY_TOLERANCE = 1e-6


@dataclass
class HessianResult:
    """A symmetrized Hessian and how it was obtained.

    - ``matrix`` [3N, 3N], eV/Å², ``(H + H^T) / 2``
    - ``method``: ``"autograd-vmap"`` (batched second derivatives), ``"autograd-loop"``
      (one backward pass per row, the fallback) or ``"finite-differences"``
    - ``max_asymmetry``: ``max |H - H^T|`` before symmetrizing, eV/Å²
    """

    matrix: np.ndarray
    method: str
    max_asymmetry: float


def _symmetrized(matrix: np.ndarray, method: str, warn_above: float | None) -> HessianResult:
    asymmetry = float(np.abs(matrix - matrix.T).max())
    scale = max(1.0, float(np.abs(matrix).max()))
    if warn_above is not None and asymmetry > warn_above * scale:
        message = (
            f"Hessian ({method}) is not symmetric: max |H - H^T| = {asymmetry:.2e} eV/Å² "
            f"(> {warn_above:.0e} x {scale:.3g}); use a float64 model"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return HessianResult(0.5 * (matrix + matrix.T), method, asymmetry)


def _rows_batched(forces: torch.Tensor, positions: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``-dF/dr`` row by row, ``chunk_size`` rows per vectorized backward pass."""
    n = forces.numel()
    identity = torch.eye(n, dtype=forces.dtype, device=forces.device)
    chunks = []
    for start in range(0, n, chunk_size):
        (rows,) = torch.autograd.grad(
            forces, positions, grad_outputs=-identity[start : start + chunk_size], is_grads_batched=True,
            retain_graph=True,
        )
        chunks.append(rows.reshape(-1, n))
    return torch.cat(chunks)


def _rows_looped(forces: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    rows = [torch.autograd.grad(-forces[i], positions, retain_graph=True)[0].reshape(-1) for i in range(forces.numel())]
    return torch.stack(rows)


def exact_hessian(
    model: Potential, atoms: Atoms, chunk_size: int = 16, vectorize: bool = True
) -> HessianResult:
    """The exact Hessian of ``model`` at ``atoms`` by automatic differentiation.

    Forces are taken with ``create_graph=True`` and differentiated again; the 3N rows are
    computed ``chunk_size`` at a time with ``torch.autograd.grad(..., is_grads_batched=True)``
    (vmap over the backward pass; memory grows with ``chunk_size`` x the graph). If the
    batched path fails (an operation without a batching rule) or ``vectorize=False``, it
    falls back to one backward pass per row; ``result.method`` says which ran. Runs in the
    model's dtype and device; use a float64 model (``model.converted(torch.float64)``) for
    frequencies. Warns if ``max |H - H^T|`` exceeds `ASYMMETRY_TOLERANCE` (relative).
    """
    check_atoms(atoms)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    graph = graph_from_atoms(atoms, model.cutoff, dtype=model.dtype).to(device=model.device)
    positions = graph.positions.detach().requires_grad_(True)
    graph.positions = positions
    forces = model(graph, outputs={"energy", "forces"}, create_graph=True).forces
    assert forces is not None
    forces = forces.reshape(-1)
    method = "autograd-loop"
    rows = None
    if vectorize:
        try:
            rows = _rows_batched(forces, positions, chunk_size)
            method = "autograd-vmap"
        except (RuntimeError, NotImplementedError) as error:
            warnings.warn(f"batched Hessian failed ({error}); falling back to a loop over rows", RuntimeWarning)
    if rows is None:
        rows = _rows_looped(forces, positions)
    matrix = rows.detach().cpu().numpy().astype(np.float64)
    return _symmetrized(matrix, method, ASYMMETRY_TOLERANCE)


def hessian(model: Potential, atoms: Atoms, chunk_size: int = 16) -> np.ndarray:
    """The exact, symmetrized Hessian [3N, 3N] of ``model`` at ``atoms``, eV/Å²
    (see `exact_hessian` for the method and the symmetry check)."""
    return exact_hessian(model, atoms, chunk_size=chunk_size).matrix


def finite_difference_hessian(source: EnergySource, atoms: Atoms, delta: float = 1e-3) -> HessianResult:
    """The Hessian from central differences of the forces, ``H[3i+a] = -(F(r + d e_ia) -
    F(r - d e_ia)) / 2d``, for a model or any ASE calculator; 6N force evaluations.

    ``delta`` in Å (1e-3 to 1e-2 is usual: smaller amplifies the noise of an SCF
    calculator, larger adds anharmonic error of order ``delta**2``).
    """
    check_atoms(atoms)
    if not delta > 0:
        raise ValueError(f"delta must be positive (Å), got {delta}")
    work = attach(atoms, as_calculator(source))
    reference = work.positions.copy()
    n = 3 * len(atoms)
    matrix = np.empty((n, n))
    for row in range(n):
        atom, axis = divmod(row, 3)
        displaced = []
        for sign in (1.0, -1.0):
            positions = reference.copy()
            positions[atom, axis] += sign * delta
            work.positions = positions
            displaced.append(work.get_forces().reshape(-1).copy())
        matrix[row] = -(displaced[0] - displaced[1]) / (2.0 * delta)
    return _symmetrized(matrix, "finite-differences", None)


def hessian_of(source: EnergySource, atoms: Atoms, delta: float | None = None) -> HessianResult:
    """The exact Hessian for a model (``delta=None``), else finite differences with
    ``delta`` Å (default 1e-3 Å for calculators)."""
    if is_model(source) and delta is None:
        return exact_hessian(source, atoms)  # type: ignore[arg-type]
    return finite_difference_hessian(source, atoms, delta=1e-3 if delta is None else delta)
