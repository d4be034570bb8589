"""Surface energies from relaxed slabs, their anisotropy and the Wulff shape.

For each Miller index a slab of the bulk crystal is cut with `ase.build.surface` (both
faces the same plane), every atom is relaxed, and

    gamma = (E_slab - N E_bulk_per_atom) / (2 A)

with ``A`` the area of the slab's in-plane cell. Units: eV/Å² and J/m² (1 eV/Å² =
16.0218 J/m²). Miller indices refer to the **conventional standard cell** of the bulk
(spglib), as crystallographers write them: ``(111)`` of fcc Cu is the close-packed plane
whether BULK is given as the 1-atom primitive cell or the 4-atom cube.

The bulk should be relaxed for the same energy source (lattice constant included: a
strained bulk puts strain energy into gamma); a bulk whose stress exceeds 0.05 GPa gets a
warning. Converge ``thickness`` and ``vacuum`` for production numbers (gamma of EMT Cu
changes by < 0.005 J/m² beyond 7 Å of slab, docs/properties.md).

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> result = surface_energies(EMT(), bulk("Cu", a=3.59), [(1, 1, 1)])   # doctest: +SKIP
    >>> result.surfaces[0].gamma_J_m2                                          # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import surface

from ._source import EnergySource, as_calculator, attach, check_atoms
from .wulff import WulffShape, equivalent_millers, miller_normal, wulff_shape

__all__ = [
    "EV_PER_A2_TO_J_PER_M2",
    "SurfaceEnergy",
    "SurfaceResult",
    "conventional_cell",
    "miller_label",
    "parse_miller",
    "plot_wulff",
    "surface_energies",
]

#: 1 eV/Å² in J/m²
EV_PER_A2_TO_J_PER_M2 = units._e * 1e20

Miller = tuple[int, int, int]


def parse_miller(text: str) -> Miller:
    """``"111"``, ``"1-10"``, ``"1,1,0"`` or ``"1 -1 0"`` -> ``(h, k, l)`` (one digit per
    index unless separated by commas or spaces)."""
    parts = text.replace(",", " ").split()
    if len(parts) == 1:
        parts, token = [], ""
        for char in text.strip():
            token += char
            if char.isdigit():
                parts.append(token)
                token = ""
        if token:
            parts = []
    try:
        indices = tuple(int(part) for part in parts)
    except ValueError:
        indices = ()
    if len(indices) != 3 or not any(indices):
        raise ValueError(f"Miller index must be three integers such as 111, 1-10 or 1,1,0 (not all zero), got {text!r}")
    return indices  # type: ignore[return-value]


def conventional_cell(atoms: Atoms) -> Atoms:
    """The conventional standard cell of a crystal (spglib, orientation and lattice
    parameters kept), the cell Miller indices refer to."""
    import spglib

    lattice, scaled, numbers = spglib.standardize_cell(
        (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers), to_primitive=False, no_idealize=True,
        symprec=1e-3,
    )
    return Atoms(numbers=numbers, scaled_positions=scaled, cell=lattice, pbc=True)


@dataclass
class SurfaceEnergy:
    """One surface: ``miller`` (of the conventional cell) and its unit Cartesian
    ``normal`` [3]; ``gamma_eV_A2`` / ``gamma_J_m2`` from the relaxed slab,
    ``unrelaxed_gamma_J_m2`` from the cut; ``n_atoms``, ``n_layers`` (atomic planes),
    ``thickness_A`` (outermost planes), ``area_A2`` (one face), ``slab_energy`` (eV,
    relaxed); ``relax_steps`` and ``converged`` of the relaxation; ``slab`` the relaxed
    slab."""

    miller: Miller
    normal: np.ndarray
    gamma_eV_A2: float
    gamma_J_m2: float
    unrelaxed_gamma_J_m2: float
    n_atoms: int
    n_layers: int
    thickness_A: float
    area_A2: float
    slab_energy: float
    relax_steps: int
    converged: bool
    slab: Atoms = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-safe fields (no slab)."""
        return {
            "miller": list(self.miller), "normal": self.normal.tolist(), "gamma_eV_A2": self.gamma_eV_A2,
            "gamma_J_m2": self.gamma_J_m2, "unrelaxed_gamma_J_m2": self.unrelaxed_gamma_J_m2,
            "n_atoms": self.n_atoms, "n_layers": self.n_layers, "thickness_A": self.thickness_A,
            "area_A2": self.area_A2, "slab_energy_eV": self.slab_energy, "relax_steps": self.relax_steps,
            "converged": self.converged,
        }


@dataclass
class SurfaceResult:
    """Surface energies of several planes, the bulk reference and the Wulff shape.

    ``anisotropy`` maps each Miller index to gamma / min(gamma); ``wulff`` is the Wulff
    polyhedron in J/m² units (lengths proportional to gamma), its families the indices
    into ``surfaces``; ``area_fractions`` maps each Miller index to its share of the
    Wulff shape's area.
    """

    surfaces: list[SurfaceEnergy]
    bulk_energy_per_atom: float
    conventional: Atoms
    wulff: WulffShape | None

    @property
    def anisotropy(self) -> dict[Miller, float]:
        lowest = min(item.gamma_J_m2 for item in self.surfaces)
        return {item.miller: item.gamma_J_m2 / lowest for item in self.surfaces}

    @property
    def area_fractions(self) -> dict[Miller, float]:
        if self.wulff is None:
            return {}
        return {self.surfaces[index].miller: value for index, value in self.wulff.area_fractions.items()}

    def to_dict(self) -> dict:
        """JSON-safe summary."""
        fractions = self.area_fractions
        return {
            "bulk_energy_per_atom_eV": self.bulk_energy_per_atom,
            "surfaces": [{**item.to_dict(), "anisotropy": self.anisotropy[item.miller],
                          "wulff_area_fraction": fractions.get(item.miller)} for item in self.surfaces],
        }


def _layers(slab: Atoms, normal: np.ndarray) -> tuple[int, float]:
    heights = np.sort(slab.positions @ normal)
    planes = 1 + int(np.sum(np.diff(heights) > 0.1))
    return planes, float(heights[-1] - heights[0])


def _build_slab(conventional: Atoms, miller: Miller, thickness: float, vacuum: float) -> Atoms:
    """The thinnest slab of whole repeats at least ``thickness`` Å thick."""
    one, two = (surface(conventional, miller, n, vacuum=1.0) for n in (1, 2))
    spacing = two.cell[2, 2] - one.cell[2, 2]
    repeats = max(1, math.ceil((thickness - (one.cell[2, 2] - 2.0)) / spacing) + 1) if spacing > 0 else 1
    slab = surface(conventional, miller, repeats, vacuum=vacuum)
    slab.wrap()
    return slab


def _relax(slab: Atoms, fmax: float, max_steps: int) -> tuple[int, bool]:
    from ase.optimize import BFGS

    optimizer = BFGS(slab, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
    return int(optimizer.nsteps), converged


def _check_bulk_stress(bulk: Atoms) -> None:
    try:
        stress = bulk.get_stress()
    except Exception:  # noqa: BLE001  (a calculator without stress: nothing to check)
        return
    largest = float(np.abs(stress).max() / units.GPa)
    if largest > 0.05:
        warnings.warn(
            f"the bulk is not relaxed for this energy source (|stress| up to {largest:.2f} GPa): gamma then contains "
            "strain energy; relax the cell first (equipot relax BULK --cell)", UserWarning, stacklevel=3,
        )


def surface_energies(
    source: EnergySource,
    bulk: Atoms,
    millers: Sequence[Sequence[int]],
    thickness: float = 10.0,
    vacuum: float = 10.0,
    relax: bool = True,
    fmax: float = 0.01,
    max_steps: int = 300,
    wulff: bool = True,
) -> SurfaceResult:
    """Surface energies of the planes ``millers`` of the crystal ``bulk``.

    Args:
        source: an equipot `Potential` or any ASE calculator.
        bulk: the bulk crystal (periodic in 3D; relaxed for ``source``).
        millers: Miller indices of the conventional standard cell, e.g. ``[(1,0,0), (1,1,1)]``.
        thickness: minimum slab thickness (Å; whole repeats of the surface cell are stacked).
        vacuum: vacuum on each side (Å; more than the model's cutoff).
        relax: relax every atom of each slab with BFGS to ``fmax`` (eV/Å), at most
            ``max_steps`` steps (``converged`` says if it got there).
        wulff: build the Wulff shape from the symmetry-equivalent planes of each family.

    Returns:
        `SurfaceResult`: gamma per plane (eV/Å², J/m²), the anisotropy and the Wulff shape.
    """
    check_atoms(bulk, "bulk")
    if not bulk.pbc.all():
        raise ValueError(f"bulk must be periodic in 3D (pbc all True), got pbc={bulk.pbc.tolist()}")
    if not millers:
        raise ValueError("give at least one Miller index, e.g. [(1, 1, 1)]")
    if not (thickness > 0 and vacuum > 0):
        raise ValueError(f"thickness and vacuum must be positive (Å), got {thickness} and {vacuum}")
    indices = [tuple(int(v) for v in miller) for miller in millers]
    for miller in indices:
        if len(miller) != 3 or not any(miller):
            raise ValueError(f"Miller index must be three integers, not all zero, got {miller}")
    calculator = as_calculator(source)
    reference = attach(bulk, calculator)
    _check_bulk_stress(reference)
    per_atom = reference.get_potential_energy() / len(reference)
    conventional = conventional_cell(bulk)
    surfaces = [_surface(conventional, miller, calculator, per_atom, thickness, vacuum, relax, fmax, max_steps)
                for miller in indices]
    shape = _wulff(conventional, surfaces) if wulff else None
    return SurfaceResult(surfaces=surfaces, bulk_energy_per_atom=float(per_atom), conventional=conventional,
                         wulff=shape)


def _surface(conventional: Atoms, miller: Miller, calculator, per_atom: float, thickness: float, vacuum: float,
             relax: bool, fmax: float, max_steps: int) -> SurfaceEnergy:
    slab = attach(_build_slab(conventional, miller, thickness, vacuum), calculator)
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    n_atoms = len(slab)
    unrelaxed = (slab.get_potential_energy() - n_atoms * per_atom) / (2 * area)
    steps, converged = _relax(slab, fmax, max_steps) if relax else (0, True)
    energy = float(slab.get_potential_energy())
    gamma = (energy - n_atoms * per_atom) / (2 * area)
    normal_slab = np.cross(slab.cell[0], slab.cell[1])
    n_layers, span = _layers(slab, normal_slab / np.linalg.norm(normal_slab))
    return SurfaceEnergy(
        miller=miller, normal=miller_normal(miller, conventional.cell.array), gamma_eV_A2=float(gamma),
        gamma_J_m2=float(gamma * EV_PER_A2_TO_J_PER_M2), unrelaxed_gamma_J_m2=float(unrelaxed * EV_PER_A2_TO_J_PER_M2),
        n_atoms=n_atoms, n_layers=n_layers, thickness_A=span, area_A2=area, slab_energy=energy, relax_steps=steps,
        converged=converged, slab=slab,
    )


def _wulff(conventional: Atoms, surfaces: list[SurfaceEnergy]) -> WulffShape | None:
    if any(item.gamma_J_m2 <= 0 for item in surfaces):
        warnings.warn("a surface energy is not positive: no Wulff shape", UserWarning, stacklevel=3)
        return None
    normals, gammas, families = [], [], []
    seen: set[Miller] = set()
    for family, item in enumerate(surfaces):
        for member in equivalent_millers(item.miller, conventional):
            if member in seen:  # the same family listed twice: keep the first
                continue
            seen.add(member)
            normals.append(miller_normal(member, conventional.cell.array))
            gammas.append(item.gamma_J_m2)
            families.append(family)
    try:
        return wulff_shape(np.array(normals), np.array(gammas), families)
    except ValueError as error:
        warnings.warn(f"no Wulff shape: {error}", UserWarning, stacklevel=3)
        return None


def _zone(conventional: Atoms, result: SurfaceResult) -> tuple[np.ndarray, list[tuple[np.ndarray, int]]]:
    """The zone axis whose plane holds members of the most families (then the most
    members), and the (normal, family) pairs in that plane."""
    members = [(miller_normal(member, conventional.cell.array), family) for family, item in
               enumerate(result.surfaces) for member in equivalent_millers(item.miller, conventional)]
    best: tuple[tuple[int, int], np.ndarray, list] | None = None
    for i, (first, _) in enumerate(members):
        for second, _ in members[i + 1:]:
            axis = np.cross(first, second)
            if np.linalg.norm(axis) < 1e-6:
                continue
            axis /= np.linalg.norm(axis)
            inside = [(normal, family) for normal, family in members if abs(normal @ axis) < 1e-6]
            score = (len({family for _, family in inside}), len(inside))
            if best is None or score > best[0]:
                best = (score, axis, inside)
    if best is None:  # a single family with a single normal pair
        normal = members[0][0]
        axis = np.cross(normal, [1.0, 0, 0] if abs(normal[0]) < 0.9 else [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return axis, [(n, f) for n, f in members if abs(n @ axis) < 1e-6]
    return best[1], best[2]


def _direction_label(axis: np.ndarray, cell: np.ndarray) -> str:
    """``[uvw]`` of a Cartesian direction in the lattice ``cell`` (smallest integers up to 6)."""
    fractional = np.linalg.solve(np.asarray(cell).T, axis)
    fractional /= np.abs(fractional).max()
    for scale in range(1, 7):
        scaled = fractional * scale
        if np.allclose(scaled, np.rint(scaled), atol=1e-4):
            return "[" + "".join(str(int(v)) if v >= 0 else f"-{int(-v)}" for v in np.rint(scaled)) + "]"
    return "[" + " ".join(f"{v:.2f}" for v in fractional) + "]"


def miller_label(miller: Sequence[int]) -> str:
    """``(1, -1, 0)`` -> ``"1-10"``."""
    return "".join(str(v) if v >= 0 else f"-{-v}" for v in miller)


def plot_wulff(result: SurfaceResult, path: str | os.PathLike, title: str = "") -> Path:
    """Write the Wulff shape of ``result`` (3D, coloured by family, with area fractions)
    and gamma(n) in the zone plane that holds the most measured families, as PNG."""
    from ..plots.wulff import wulff_plot

    if result.wulff is None:
        raise ValueError("no Wulff shape to plot (a surface energy is not positive, or wulff=False)")
    axis, inside = _zone(result.conventional, result)
    first = inside[0][0]
    second = np.cross(axis, first)
    angles = np.linspace(0.0, 2 * np.pi, 721)
    directions = np.cos(angles)[:, None] * first + np.sin(angles)[:, None] * second
    points = [(float(np.arctan2(normal @ second, normal @ first)), result.surfaces[family].gamma_J_m2, family)
              for normal, family in inside]
    labels = ["{" + miller_label(item.miller) + "}" for item in result.surfaces]
    fractions = [result.wulff.area_fractions.get(index, 0.0) for index in range(len(result.surfaces))]
    plane = "⊥ " + _direction_label(axis, result.conventional.cell.array)
    return wulff_plot(result.wulff.facets, labels, fractions, path,
                      polar=(angles, result.wulff.support(directions), plane), points=points, title=title)
