"""Neighbor lists from vesin, with the physical checks that belong at the data boundary."""

from __future__ import annotations

import numpy as np
import vesin

__all__ = ["NeighborList", "StructureError", "check_cell_volume", "check_structure", "neighbor_list"]

MIN_DISTANCE = 0.1  # Å; closer atoms are almost surely a units or file error


class StructureError(ValueError):
    """A structure is unphysical or malformed (NaN positions, overlapping atoms, singular cell)."""


def _label(name: str | None) -> str:
    return name if name is not None else "structure"


def _degenerate(vectors: np.ndarray) -> bool:
    """True when the lattice ``vectors`` [k, 3] (Å) include a zero-length vector or do not
    span k dimensions (zero volume, area or length)."""
    gram = vectors @ vectors.T
    squared_lengths = np.diag(gram)
    # det(gram) / prod(|a_k|^2) is the squared volume over the squared product of the
    # lengths: scale-free (an absolute threshold missed parallel vectors of 10 Å cells)
    return bool(np.any(squared_lengths < 1e-12) or np.linalg.det(gram) / np.prod(squared_lengths) < 1e-10)


def _volume(cell: np.ndarray) -> float:
    return float(abs(np.linalg.det(np.asarray(cell, dtype=np.float64))))


def check_finite(positions: np.ndarray, cell: np.ndarray, name: str | None = None) -> None:
    """Raise `StructureError` for non-finite positions [n_atoms, 3] (Å) or cell [3, 3] (Å);
    ``name`` starts the message, as in `check_structure`."""
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    if not np.all(np.isfinite(positions)):
        bad = np.flatnonzero(~np.all(np.isfinite(positions), axis=1))
        raise StructureError(
            f"{_label(name)}: positions of atoms {bad[:10].tolist()} are NaN or infinite; "
            "fix or drop this structure"
        )
    if not np.all(np.isfinite(cell)):
        raise StructureError(
            f"{_label(name)}: the cell contains NaN or infinite entries; fix the cell (Å) or drop this structure"
        )


def check_structure(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, name: str | None = None
) -> None:
    """Raise `StructureError` for non-finite positions or cell, or a singular cell with pbc set.

    ``positions`` [n_atoms, 3] Å, ``cell`` [3, 3] Å (rows are lattice vectors), ``pbc`` [3].
    ``name`` (e.g. ``"structure 3 of data.xyz"``, as `graph_from_atoms` passes it, or
    ``"cell.xyz, last frame"`` from `read_structure`) starts the message.
    """
    check_finite(positions, cell, name)
    cell = np.asarray(cell, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    if np.any(pbc) and _degenerate(cell[pbc]):
        if pbc.all():
            raise StructureError(
                f"{_label(name)}: the cell has zero volume (det = {_volume(cell):.3g} Å³) but "
                f"pbc={pbc.tolist()}; set three independent lattice vectors (Å), or turn "
                "periodicity off (atoms.pbc = False) for a molecule or cluster"
            )
        raise StructureError(
            f"{_label(name)}: the periodic lattice vectors (pbc={pbc.tolist()}) are zero-length or "
            "parallel; set independent lattice vectors (Å) along them, or turn periodicity off "
            "(atoms.pbc = False)"
        )


def check_cell_volume(cell: np.ndarray, name: str, needed_by: str) -> float:
    """The volume (Å³) of ``cell`` [3, 3] (rows are lattice vectors); raise `StructureError`
    when it is zero, that is when the lattice vectors are zero-length or not independent.

    For what needs a 3-D periodic cell (phonons, elastic constants, a cell relaxation, NPT);
    ``needed_by`` says what, as the subject of "needs" (e.g. ``"relax_cell needs"``),
    ``name`` starts the message. Call it after checking that pbc is all True.
    """
    cell = np.asarray(cell, dtype=np.float64)
    if not np.all(np.isfinite(cell)):
        raise StructureError(f"{name}: the cell contains NaN or infinite entries; fix the cell (Å)")
    if _degenerate(cell):
        raise StructureError(
            f"{name}: the cell has zero volume (det = {_volume(cell):.3g} Å³); {needed_by} a 3-D "
            "periodic cell with three independent lattice vectors (Å)"
        )
    return _volume(cell)


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
