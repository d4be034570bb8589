"""Neighbor lists from vesin, with the physical checks that belong at the data boundary."""

from __future__ import annotations

import numpy as np
import vesin

__all__ = ["NeighborList", "StructureError", "neighbor_list", "check_structure"]

MIN_DISTANCE = 0.1  # Å; closer atoms are almost surely a units or file error


class StructureError(ValueError):
    """A structure is unphysical or malformed (NaN positions, overlapping atoms, singular cell)."""


def _label(name: str | None) -> str:
    return name if name is not None else "structure"


def check_structure(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, name: str | None = None
) -> None:
    """Raise `StructureError` for non-finite positions or a singular cell with pbc set.

    ``positions`` [n_atoms, 3] Å, ``cell`` [3, 3] Å (rows are lattice vectors), ``pbc`` [3].
    ``name`` (e.g. ``"structure 3 of data.xyz"``, as `graph_from_atoms` passes it) starts
    the message.
    """
    if not np.all(np.isfinite(positions)):
        bad = np.flatnonzero(~np.all(np.isfinite(positions), axis=1))
        raise StructureError(
            f"{_label(name)}: positions of atoms {bad[:10].tolist()} are NaN or infinite; "
            "fix or drop this structure"
        )
    if not np.all(np.isfinite(cell)):
        raise StructureError(f"{_label(name)}: the cell contains NaN or infinite entries")
    if np.any(pbc):
        periodic_vectors = cell[np.asarray(pbc, dtype=bool)]
        gram = periodic_vectors @ periodic_vectors.T
        squared_lengths = np.diag(gram)
        # det(gram) / prod(|a_k|^2) is the squared volume over the squared product of the
        # lengths: scale-free (an absolute threshold missed parallel vectors of 10 Å cells)
        if np.any(squared_lengths < 1e-12) or np.linalg.det(gram) / np.prod(squared_lengths) < 1e-10:
            raise StructureError(
                f"{_label(name)}: the cell is singular (zero volume or zero-length lattice vector) "
                f"along the periodic directions pbc={np.asarray(pbc).tolist()}; "
                "set a proper cell or turn periodicity off (atoms.pbc = False)"
            )


class NeighborList:
    """Full (both directions) neighbor list with periodic images, computed by vesin.

    Handles molecules, fully and partly periodic cells (slabs, wires), triclinic and very
    skewed cells, and cells smaller than the cutoff (an atom may then neighbor several
    periodic images of itself).
    """

    def __init__(self, cutoff: float):
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        self.cutoff = float(cutoff)
        self._vesin = vesin.NeighborList(cutoff=self.cutoff, full_list=True)

    def __call__(
        self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, name: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(receivers, senders, cell_shifts)`` for one structure.

        ``positions`` [n_atoms, 3] Å, ``cell`` [3, 3] Å, ``pbc`` [3] bool. The edge vector
        ``positions[senders] - positions[receivers] + cell_shifts @ cell`` has length below
        the cutoff. Raises `StructureError` when two atoms are closer than 0.1 Å.
        """
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        cell = np.ascontiguousarray(cell, dtype=np.float64)
        pbc = np.asarray(pbc, dtype=bool)
        check_structure(positions, cell, pbc, name)
        if len(positions) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros((0, 3), dtype=np.int64)
        box = cell if np.any(pbc) else np.zeros((3, 3))
        receivers, senders, shifts, distances = self._vesin.compute(
            positions, box, pbc.tolist() if np.any(pbc) else False, quantities="ijSd"
        )
        if len(distances) and distances.min() < MIN_DISTANCE:
            k = int(np.argmin(distances))
            raise StructureError(
                f"{_label(name)}: atoms {int(receivers[k])} and {int(senders[k])} are "
                f"{distances[k]:.4f} Å apart (closer than {MIN_DISTANCE} Å); check the units "
                "(Å expected) and remove duplicated atoms"
            )
        return (
            receivers.astype(np.int64),
            senders.astype(np.int64),
            shifts.astype(np.int64),
        )


def neighbor_list(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-shot form of `NeighborList`: ``(receivers, senders, cell_shifts)``."""
    return NeighborList(cutoff)(positions, cell, pbc)
