"""`assert_equivariant`: check a model's outputs transform as their irreps say."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from ase import Atoms

from ..data import batch_graphs, graph_from_atoms
from ..models import Potential
from .output_rules import expected_transform, is_per_atom
from .transforms import permute_atoms, random_rotation, rotate_atoms, translate_atoms

__all__ = ["assert_equivariant", "evaluate", "evaluate_many", "default_tolerance"]

Model = Callable[..., object]


def default_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance for symmetry checks: 1e-10 in float64, 1e-5 in float32."""
    return 1e-10 if dtype == torch.float64 else 1e-5


def evaluate_many(model: Potential, structures: list[Atoms], outputs: Iterable[str]) -> list[dict[str, np.ndarray]]:
    """Outputs of ``model`` for each structure (evaluated as one batch), in the model's
    dtype, as float64 numpy arrays: per-atom outputs [n_atoms, ...], per-structure outputs
    without a batch dimension. Names other than the energy outputs are read from
    ``ModelOutput.extra`` (heads; per atom where the model's `output_specs` say so)."""
    outputs = tuple(outputs)
    graphs = [graph_from_atoms(atoms, model.cutoff, dtype=model.dtype) for atoms in structures]
    result = model(batch_graphs(graphs).to(device=model.device), outputs=set(outputs), create_graph=False)
    starts = np.cumsum([0] + [len(atoms) for atoms in structures])
    per_structure: list[dict[str, np.ndarray]] = [{} for _ in structures]
    for name in outputs:
        value = getattr(result, name, None)
        if value is None:
            value = result.extra[name]
        value = value.detach().cpu().double().numpy()
        for index, arrays in enumerate(per_structure):
            arrays[name] = value[starts[index] : starts[index + 1]] if is_per_atom(model, name) else value[index]
    return per_structure


def evaluate(model: Potential, atoms: Atoms, outputs: Iterable[str]) -> dict[str, np.ndarray]:
    """`evaluate_many` for one structure."""
    return evaluate_many(model, [atoms], outputs)[0]


def _check(name: str, got: np.ndarray, expected: np.ndarray, rtol: float, what: str) -> None:
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    error = float(np.abs(got - expected).max(initial=0.0))
    if not error <= rtol * scale:
        raise AssertionError(
            f"{name} is not equivariant under {what}: max deviation {error:.3e} "
            f"exceeds {rtol:.1e} x {scale:.3e}"
        )


def assert_equivariant(
    model: Potential,
    atoms: Atoms,
    outputs: Iterable[str] = ("energy", "forces"),
    rtol: float | None = None,
    seed: int = 0,
    trials: int = 2,
    reflections: bool = True,
) -> None:
    """Check invariance/equivariance of ``outputs`` for ``atoms`` under random rotations,
    reflections (improper rotations), translations and permutations of atoms.

    Scalars (``energy``) must be invariant, ``forces`` rotate as ``R f``, ``stress`` and
    ``virial`` as ``R S R^T``, ``atomic_energies`` permute with the atoms. Outputs of heads
    transform as the model declares (`output_specs`): irreps ``x -> D(R) x`` with e3nn's
    Wigner matrices (a pseudoscalar ``0o`` changes sign under a reflection), Cartesian
    tensors ``T_ab.. -> R_ai R_bj .. T_ij..`` (times ``det R`` for axial ones); per-atom
    outputs also permute with the atoms. Tolerances are relative to the largest magnitude
    of each output (at least 1). Raises ``AssertionError`` naming the output and the
    operation that failed. The model runs in its own dtype; the default ``rtol`` follows it
    (1e-10 in float64, 1e-5 in float32). ``reflections=False`` skips improper rotations,
    for SO(3)-only models (``parity=False``).
    """
    outputs = tuple(outputs)
    rtol = default_tolerance(model.dtype) if rtol is None else rtol
    rng = np.random.default_rng(seed)
    reference = evaluate(model, atoms, outputs)

    for trial in range(trials):
        for improper in (False, True) if reflections else (False,):
            rotation = random_rotation(rng, improper=improper)
            transformed = evaluate(model, rotate_atoms(atoms, rotation), outputs)
            what = "a reflection" if improper else "a rotation"
            for name in outputs:
                expected = expected_transform(model, name, reference[name], rotation)
                _check(name, transformed[name], expected, rtol, what)
        shift = rng.normal(size=3) * 3.0
        transformed = evaluate(model, translate_atoms(atoms, shift), outputs)
        for name in outputs:
            _check(name, transformed[name], reference[name], rtol, "a translation")
        permutation = rng.permutation(len(atoms))
        transformed = evaluate(model, permute_atoms(atoms, permutation), outputs)
        for name in outputs:
            expected = reference[name][permutation] if is_per_atom(model, name) else reference[name]
            _check(name, transformed[name], expected, rtol, "a permutation of atoms")
