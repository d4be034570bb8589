"""Random small structures for tests: molecules, triclinic cells, cells below the cutoff."""

from __future__ import annotations

import numpy as np
from ase import Atoms

__all__ = ["random_molecule", "random_crystal"]


def _place(rng: np.random.Generator, n_atoms: int, sample, min_distance: float, distance) -> np.ndarray:
    positions: list[np.ndarray] = []
    while len(positions) < n_atoms:
        candidate = sample()
        if all(distance(candidate, p) >= min_distance for p in positions):
            positions.append(candidate)
    return np.array(positions)


def random_molecule(
    symbols: list[str], n_atoms: int, rng: np.random.Generator, size: float = 3.0, min_distance: float = 0.9
) -> Atoms:
    """A random cluster of ``n_atoms`` atoms (elements drawn from ``symbols``) in a ``size`` Å box."""
    positions = _place(
        rng, n_atoms, lambda: rng.uniform(0, size, 3), min_distance, lambda a, b: np.linalg.norm(a - b)
    )
    return Atoms(symbols=list(rng.choice(symbols, n_atoms)), positions=positions)


def random_crystal(
    symbols: list[str],
    n_atoms: int,
    rng: np.random.Generator,
    lattice: float = 3.0,
    skew: float = 0.3,
    min_distance: float = 1.2,
) -> Atoms:
    """A random triclinic periodic cell (edge ~``lattice`` Å, off-diagonal up to ``skew`` x lattice)."""
    cell = np.eye(3) * lattice + rng.uniform(-skew, skew, (3, 3)) * lattice
    inverse = np.linalg.inv(cell)

    def periodic_distance(a: np.ndarray, b: np.ndarray) -> float:
        fractional = (a - b) @ inverse
        fractional -= np.round(fractional)
        return float(np.linalg.norm(fractional @ cell))

    positions = _place(rng, n_atoms, lambda: rng.uniform(0, 1, 3) @ cell, min_distance, periodic_distance)
    return Atoms(symbols=list(rng.choice(symbols, n_atoms)), positions=positions, cell=cell, pbc=True)
