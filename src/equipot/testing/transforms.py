"""Random symmetry operations on structures: rotations (proper and improper),
translations and permutations of atoms."""

from __future__ import annotations

import numpy as np
from ase import Atoms

__all__ = ["random_rotation", "rotate_atoms", "translate_atoms", "permute_atoms"]


def random_rotation(rng: np.random.Generator, improper: bool = False) -> np.ndarray:
    """A uniformly random 3x3 orthogonal matrix with det +1 (or -1 if ``improper``)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if improper else q


def rotate_atoms(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """Apply ``rotation`` [3, 3] to positions and cell vectors (rows): ``r' = R r``."""
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated.cell = np.asarray(atoms.cell) @ rotation.T
    return rotated


def translate_atoms(atoms: Atoms, shift: np.ndarray) -> Atoms:
    """Shift all atoms by ``shift`` [3] Å (not wrapped back into the cell)."""
    translated = atoms.copy()
    translated.positions = atoms.positions + shift
    return translated


def permute_atoms(atoms: Atoms, permutation: np.ndarray) -> Atoms:
    """Reorder atoms (with their element and labels) by ``permutation`` [n_atoms]."""
    return atoms[np.asarray(permutation)]
