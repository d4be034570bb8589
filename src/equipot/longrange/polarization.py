"""Polarization of a periodic cell from atomic charges, and ferroelectric domains.

The polarization of a structure relative to a reference (e.g. the centrosymmetric phase),
in the point-charge picture::

    P = (1/V) sum_i q_i (r_i - r_i^ref)        (e/Å²; x 16.02176634 for C/m²)

with ``r_i - r_i^ref`` the minimum-image displacement (`ase.geometry.find_mic`, any
triclinic cell) and V the cell volume. The charges are fixed per atom during the
displacement: formal charges, or the learned charges of a `LongRangePotential`
(`structure_polarization`). This is the change of polarization along a path on which the
charges stay constant; it is not a Berry-phase polarization (no electronic contribution
beyond the charges, no polarization quantum). With neutral charges (sum 0, required) it
does not depend on where the structure sits: translating all atoms leaves it unchanged.

Ferroelectric domains: `local_polarization` gives P of groups of atoms (unit cells of a
supercell, `unit_cell_groups`, or any clusters), each with its share of the volume, and
`classify_domains` assigns each to the nearest of the polar directions of a crystal
family relative to the crystal axes: ``"tetragonal"``, ±x, ±y, ±z (labels ``+x`` ...
``-z``, along the first, second and third axis), or ``"rhombohedral"``, the eight ⟨111⟩
(labels ``[111]``, ``[1-11]``, ... with ``-1`` for a negative component).

    >>> P = polarization(charges, atoms.positions, reference.positions, atoms.cell)     # doctest: +SKIP
    >>> P * E_PER_A2_TO_C_PER_M2                                                         # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.geometry import find_mic

from ..data import graph_from_atoms
from ..models import Potential

__all__ = [
    "DOMAIN_FAMILIES",
    "E_PER_A2_TO_C_PER_M2",
    "Domains",
    "classify_domains",
    "local_polarization",
    "polarization",
    "structure_polarization",
    "unit_cell_groups",
]

#: 1 e/Å² in C/m² (1.602176634e-19 C / 1e-20 m²)
E_PER_A2_TO_C_PER_M2 = 16.02176634

#: the polar directions of each crystal family, as signs along the crystal axes
DOMAIN_FAMILIES: dict[str, np.ndarray] = {
    "tetragonal": np.concatenate([np.eye(3), -np.eye(3)])[[0, 3, 1, 4, 2, 5]],
    "rhombohedral": np.array(list(itertools.product((1.0, -1.0), repeat=3))),
}

#: neutral to this (e): the polarization of a charged cell depends on its origin
_NEUTRAL_TOLERANCE = 1e-6


def _as_cell(cell: np.ndarray) -> np.ndarray:
    cell = np.asarray(cell, dtype=np.float64)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must be a 3x3 matrix (rows: cell vectors, Å), got shape {cell.shape}")
    volume = abs(float(np.linalg.det(cell)))
    if volume < 1e-9:
        raise ValueError("polarization needs a 3D periodic cell with a non-zero volume")
    return cell


def _displacements(positions: np.ndarray, reference: np.ndarray, cell: np.ndarray) -> np.ndarray:
    positions, reference = np.asarray(positions, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if positions.shape != reference.shape or positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(
            f"positions and reference_positions must both be [n_atoms, 3] (Å), got {positions.shape} and {reference.shape}"
        )
    displacement, _ = find_mic(positions - reference, cell, pbc=True)
    return displacement


def _checked_charges(charges: np.ndarray, n_atoms: int) -> np.ndarray:
    charges = np.asarray(charges, dtype=np.float64).reshape(-1)
    if charges.shape != (n_atoms,):
        raise ValueError(f"charges must have one value per atom ({n_atoms}), got {charges.shape[0]}")
    if abs(float(charges.sum())) > _NEUTRAL_TOLERANCE:
        raise ValueError(
            f"charges sum to {charges.sum():.3g} e: the polarization of a charged cell depends on its origin; "
            "use neutral charges (a LongRangePotential conserves a total charge of 0 by default)"
        )
    return charges


def polarization(
    charges: np.ndarray, positions: np.ndarray, reference_positions: np.ndarray, cell: np.ndarray
) -> np.ndarray:
    """P = (1/V) Σ q_i (r_i − r_i^ref) of a periodic cell, e/Å², [3] (module docstring).

    Args:
        charges: [n_atoms] e, summing to 0.
        positions, reference_positions: [n_atoms, 3] Å, the same atoms in the same order;
            displacements are taken with the minimum-image convention.
        cell: [3, 3] Å, rows the cell vectors (the structure's; its volume is V).
    """
    cell = _as_cell(cell)
    displacement = _displacements(positions, reference_positions, cell)
    charges = _checked_charges(charges, len(displacement))
    return (charges[:, None] * displacement).sum(0) / abs(float(np.linalg.det(cell)))


def local_polarization(
    charges: np.ndarray,
    positions: np.ndarray,
    reference_positions: np.ndarray,
    cell: np.ndarray,
    groups: np.ndarray,
) -> np.ndarray:
    """The polarization of each group of atoms, e/Å², [n_groups, 3].

    ``groups`` [n_atoms] gives each atom's group (0 … n_groups−1): the unit cells of a
    supercell (`unit_cell_groups`) or any clusters. Group g has the volume
    ``V · n_g / n_atoms`` (its share of the atoms) and ``P_g = Σ_{i∈g} q_i Δr_i / V_g``.
    Groups need not be neutral (the charges as a whole must be).
    """
    cell = _as_cell(cell)
    displacement = _displacements(positions, reference_positions, cell)
    charges = _checked_charges(charges, len(displacement))
    groups = np.asarray(groups)
    if groups.shape != (len(displacement),) or not np.issubdtype(groups.dtype, np.integer) or groups.min() < 0:
        raise ValueError(f"groups must be [n_atoms] non-negative integers (a group index per atom), got {groups.shape}")
    n_groups = int(groups.max()) + 1
    counts = np.bincount(groups, minlength=n_groups)
    if (counts == 0).any():
        raise ValueError(f"groups {np.flatnonzero(counts == 0).tolist()} have no atoms; number the groups 0 … n_groups-1")
    dipoles = np.zeros((n_groups, 3))
    np.add.at(dipoles, groups, charges[:, None] * displacement)
    volumes = abs(float(np.linalg.det(cell))) * counts / len(displacement)
    return dipoles / volumes[:, None]


def unit_cell_groups(reference_positions: np.ndarray, cell: np.ndarray, repetitions: tuple[int, int, int]) -> np.ndarray:
    """The unit cell of a supercell ``cell`` (made of ``repetitions`` unit cells along its
    three vectors) that each reference position falls in: [n_atoms] group indices
    (``(i·n_b + j)·n_c + k``). Positions on a cell face (within 1e-6 in fractional
    coordinates) belong to the cell they start."""
    cell = _as_cell(cell)
    reps = np.asarray(repetitions, dtype=int)
    if reps.shape != (3,) or (reps < 1).any():
        raise ValueError(f"repetitions must be three positive integers, got {repetitions}")
    fractional = np.linalg.solve(cell.T, np.asarray(reference_positions, dtype=np.float64).T).T % 1.0
    index = np.floor(fractional * reps + 1e-6).astype(int) % reps
    return (index[:, 0] * reps[1] + index[:, 1]) * reps[2] + index[:, 2]


@dataclass
class Domains:
    """What `classify_domains` found for each group.

    ``labels`` [n] (``"+z"``, ``"[1-11]"``, or ``"none"`` below ``min_magnitude``);
    ``directions`` [n, 3] the unit vectors of the assigned polar directions (zeros for
    ``"none"``); ``cosines`` [n] the cosine of the angle between P and that direction;
    ``magnitudes`` [n] |P| in e/Å².
    """

    labels: list[str]
    directions: np.ndarray
    cosines: np.ndarray
    magnitudes: np.ndarray


def _label(signs: np.ndarray, family: str) -> str:
    if family == "tetragonal":
        axis = int(np.flatnonzero(signs)[0])
        return ("+" if signs[axis] > 0 else "-") + "xyz"[axis]
    return "[" + "".join("1" if s > 0 else "-1" for s in signs) + "]"


def classify_domains(
    local: np.ndarray, axes: np.ndarray, family: str = "tetragonal", min_magnitude: float = 0.0
) -> Domains:
    """Assign each local polarization to the nearest polar direction of ``family``.

    Args:
        local: [n, 3] e/Å² (e.g. `local_polarization`).
        axes: [3, 3] rows along the crystal axes a, b, c (e.g. the unit cell, or a supercell
            repeated along them); only their directions count.
        family: ``"tetragonal"`` (±x, ±y, ±z along the axes) or ``"rhombohedral"`` (the
            eight ±a ± b ± c, normalized: ⟨111⟩ of a cubic parent).
        min_magnitude: e/Å²; a smaller |P| gets the label ``"none"``.
    """
    if family not in DOMAIN_FAMILIES:
        raise ValueError(f"family must be one of {sorted(DOMAIN_FAMILIES)}, got {family!r}")
    local = np.atleast_2d(np.asarray(local, dtype=np.float64))
    if local.shape[1] != 3:
        raise ValueError(f"local polarizations must be [n, 3], got {local.shape}")
    units = _as_cell(axes) / np.linalg.norm(axes, axis=1, keepdims=True)
    signs = DOMAIN_FAMILIES[family]
    candidates = signs @ units
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    magnitudes = np.linalg.norm(local, axis=1)
    cosines_all = (local @ candidates.T) / np.where(magnitudes > 0, magnitudes, 1.0)[:, None]
    best = np.argmax(cosines_all, axis=1)
    polar = magnitudes > max(min_magnitude, 0.0)
    labels = [_label(signs[b], family) if p else "none" for b, p in zip(best, polar)]
    directions = np.where(polar[:, None], candidates[best], 0.0)
    cosines = np.where(polar, cosines_all[np.arange(len(local)), best], 0.0)
    return Domains(labels, directions, cosines, magnitudes)


def structure_polarization(potential: Potential, atoms: Atoms, reference: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """The polarization of ``atoms`` relative to ``reference`` with the charges that
    ``potential`` (a `LongRangePotential`, or any potential with a ``charges`` output)
    assigns to ``atoms``: (P [3] e/Å², charges [n_atoms] e)."""
    if "charges" not in potential.output_specs():
        raise ValueError(
            f"{type(potential).__name__} has no charges output; polarization needs a LongRangePotential "
            "(model.long_range in the config) or explicit charges (polarization(charges, ...))"
        )
    if len(atoms) != len(reference) or (atoms.numbers != reference.numbers).any():
        raise ValueError("structure and reference must hold the same atoms in the same order")
    graph = graph_from_atoms(atoms, potential.cutoff).to(device=potential.device, dtype=potential.dtype)
    with torch.enable_grad():  # the energy's derivatives are not asked, but charges may need autograd (qeq)
        charges = potential(graph, outputs={"energy", "charges"}, create_graph=False).extra["charges"]
    charges = charges.detach().cpu().double().numpy()
    total = float(charges.sum())
    if abs(total) < 1e-4:  # a neutral structure's round-off (float32): make it exactly neutral
        charges = charges - total / len(charges)
    return polarization(charges, atoms.positions, reference.positions, atoms.cell.array), charges
