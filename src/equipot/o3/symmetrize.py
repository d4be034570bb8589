"""Point-group symmetrization of Cartesian tensors.

A tensor property of a crystal (elastic constants, piezoelectric or dielectric tensors)
must be invariant under the crystal's point group G (Neumann's principle). The group
average

    P(T) = 1/|G| sum_{R in G} det(R)^a (R ⊗ R ⊗ ... ⊗ R) T        (a = 1 for axial tensors)

is the orthogonal projection onto that invariant subspace: applying it to a model's
prediction removes the symmetry-forbidden part, and applying it twice changes nothing.

Operations come from a structure (`point_group_operations`, through spglib) or by name
(`named_point_group`: ``Oh``, ``D6h``, ... in a standard Cartesian setting).
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms

from .cartesian import rotate_cartesian

__all__ = ["POINT_GROUP_GENERATORS", "group_closure", "named_point_group", "point_group_operations", "symmetrize_tensor"]


def symmetrize_tensor(
    tensor: np.ndarray, rotations: np.ndarray, axial: bool = False, rank: int | None = None
) -> np.ndarray:
    """Project ``tensor`` [..., 3, ..., 3] onto the subspace invariant under ``rotations``.

    ``rotations`` [n_ops, 3, 3] are Cartesian orthogonal matrices forming a group (e.g.
    from `point_group_operations`); ``rank`` is the number of trailing Cartesian indices
    (default: all of them); ``axial`` multiplies each term by ``det(R)`` (for axial tensors
    such as the gyration tensor). Returns a new float64 array of the same shape.

    >>> import numpy as np
    >>> c = symmetrize_tensor(np.random.default_rng(0).normal(size=(3, 3)), named_point_group("Oh"))
    >>> np.allclose(c, np.trace(c) / 3 * np.eye(3))      # cubic: a scalar times identity
    True
    """
    tensor = np.asarray(tensor, dtype=np.float64)
    rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    rank = tensor.ndim if rank is None else int(rank)
    if rank < 1 or tensor.shape[tensor.ndim - rank :] != (3,) * rank:
        raise ValueError(f"symmetrize_tensor: the last {rank} axes must have length 3, got shape {tensor.shape}")
    if not np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-6):
        raise ValueError("symmetrize_tensor: rotations must be orthogonal 3x3 matrices (Cartesian, not fractional)")
    total = np.zeros_like(tensor)
    for rotation in rotations:
        total += rotate_cartesian(tensor, rotation, rank, pseudo=axial)
    return total / len(rotations)


def point_group_operations(atoms: Atoms, symprec: float = 1e-5) -> np.ndarray:
    """The point group of a crystal as Cartesian rotation matrices [n_ops, 3, 3], from spglib.

    spglib returns integer matrices ``W`` acting on fractional coordinates; the Cartesian
    operation is ``R = A^T W A^{-T}`` with the lattice vectors as the rows of ``A``. Pure
    translations (several operations with the same ``W``) are merged, so fcc Cu in its
    conventional 4-atom cell gives the 48 operations of Oh. Needs a periodic structure.
    """
    import spglib

    if not atoms.pbc.all():
        raise ValueError("point_group_operations needs a periodic structure (atoms.pbc all True)")
    lattice = np.asarray(atoms.cell, dtype=np.float64)
    cell = (lattice, atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():  # spglib 2.5 warns about its error-handling mode on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = spglib.get_symmetry(cell, symprec=symprec)
    if dataset is None:
        raise ValueError(f"spglib found no symmetry for {atoms.get_chemical_formula()} (symprec={symprec})")
    unique = {tuple(w.reshape(-1)): w for w in dataset["rotations"]}
    transform = lattice.T
    inverse = np.linalg.inv(transform)
    operations = np.array([transform @ w @ inverse for w in unique.values()])
    return _clean(operations)


def _clean(operations: np.ndarray) -> np.ndarray:
    """Round entries within 1e-12 of 0, ±1/2, ±√3/2, ±1 (exact symmetry operations)."""
    special = np.array([0.0, 0.5, -0.5, 1.0, -1.0, np.sqrt(3) / 2, -np.sqrt(3) / 2])
    nearest = special[np.abs(operations[..., None] - special).argmin(-1)]
    return np.where(np.abs(operations - nearest) < 1e-10, nearest, operations)


def _rotation(axis: list[float], degrees: float) -> np.ndarray:
    axis_array = np.asarray(axis, dtype=np.float64)
    x, y, z = axis_array / np.linalg.norm(axis_array)
    angle = np.radians(degrees)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


_INVERSION = -np.eye(3)
_MIRROR_Z = np.diag([1.0, 1.0, -1.0])
_MIRROR_X = np.diag([-1.0, 1.0, 1.0])

#: generators of common point groups (Schoenflies symbol), principal axis along z,
#: two-fold axes of dihedral groups along x, cubic axes along x, y, z
POINT_GROUP_GENERATORS: dict[str, list[np.ndarray]] = {
    "C1": [np.eye(3)],
    "Ci": [_INVERSION],
    "Cs": [_MIRROR_Z],
    "C2h": [_rotation([0, 0, 1], 180), _INVERSION],
    "D2h": [_rotation([0, 0, 1], 180), _rotation([1, 0, 0], 180), _INVERSION],
    "C4h": [_rotation([0, 0, 1], 90), _INVERSION],
    "D4h": [_rotation([0, 0, 1], 90), _rotation([1, 0, 0], 180), _INVERSION],
    "C3v": [_rotation([0, 0, 1], 120), _MIRROR_X],
    "D3d": [_rotation([0, 0, 1], 120), _rotation([1, 0, 0], 180), _INVERSION],
    "C6v": [_rotation([0, 0, 1], 60), _MIRROR_X],
    "D3h": [_rotation([0, 0, 1], 120), _rotation([1, 0, 0], 180), _MIRROR_Z],
    "D6": [_rotation([0, 0, 1], 60), _rotation([1, 0, 0], 180)],
    "D6h": [_rotation([0, 0, 1], 60), _rotation([1, 0, 0], 180), _INVERSION],
    "T": [_rotation([0, 0, 1], 180), _rotation([1, 1, 1], 120)],
    "Td": [_rotation([0, 0, 1], 180), _rotation([1, 1, 1], 120), _rotation([0, 0, 1], 90) @ _MIRROR_Z],
    "Th": [_rotation([0, 0, 1], 180), _rotation([1, 1, 1], 120), _INVERSION],
    "O": [_rotation([0, 0, 1], 90), _rotation([1, 1, 1], 120)],
    "Oh": [_rotation([0, 0, 1], 90), _rotation([1, 1, 1], 120), _INVERSION],
}


def group_closure(generators: list[np.ndarray] | np.ndarray, max_order: int = 240) -> np.ndarray:
    """All products of ``generators`` [k, 3, 3]: the finite group they generate [n, 3, 3]."""
    elements = [np.eye(3)]
    frontier = [np.eye(3)]
    generators = [np.asarray(g, dtype=np.float64) for g in generators]
    while frontier:
        new = []
        for element in frontier:
            for generator in generators:
                product = generator @ element
                if not any(np.allclose(product, known, atol=1e-9) for known in elements):
                    elements.append(product)
                    new.append(product)
        if len(elements) > max_order:
            raise ValueError(f"the generators produce more than {max_order} operations: not a finite point group")
        frontier = new
    return _clean(np.array(elements))


def named_point_group(symbol: str) -> np.ndarray:
    """The operations [n, 3, 3] of the point group ``symbol`` (``"Oh"``: 48, ``"D6h"``: 24, ...).

    Settings: principal axis along z; dihedral two-fold axes along x; cubic groups with
    their four-fold (or two-fold) axes along x, y and z. Symbols: see `POINT_GROUP_GENERATORS`.
    """
    if symbol not in POINT_GROUP_GENERATORS:
        raise ValueError(f"unknown point group {symbol!r}; known: {sorted(POINT_GROUP_GENERATORS)}")
    return group_closure(POINT_GROUP_GENERATORS[symbol])
