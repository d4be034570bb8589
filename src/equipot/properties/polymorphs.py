"""Polymorph ranking and transfer to disorder: the study to run before trusting a
potential on a phase it was not trained on.

`polymorph_ranking` relaxes fcc, bcc, hcp and simple-cubic cells of one element (atoms
and cell, so each phase finds its own volume) with a potential and with a reference
calculator (e.g. EMT), and compares the energies per atom relative to fcc. `disorder_errors`
takes structures ever further from the crystal (strained cells, frames of reference MD at
rising temperature, a melt-quenched amorphous cell), and returns the energy error of the
potential on each against a distance in descriptor space: the mean over atoms of the
distance from each atom's invariant features (`equipot.uq.invariant_features`) to the
nearest atom of fcc crystal frames. Energies in eV/atom, volumes in Å³/atom, distances in
the units of the features.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from ..simulate.relax import relax
from ..uq.descriptors import nearest_distances
from ..uq.features import invariant_features
from ._source import EnergySource, as_calculator

__all__ = [
    "PHASES",
    "DisorderFrame",
    "PhaseEnergy",
    "disorder_errors",
    "disorder_structures",
    "phase_structure",
    "plot_disorder_errors",
    "polymorph_ranking",
    "ranking_table",
]

#: the phases compared, by ASE's crystal-structure name ("sc": simple cubic)
PHASES = ("fcc", "bcc", "hcp", "sc")


def phase_structure(phase: str, element: str = "Cu", volume_per_atom: float = 11.8) -> Atoms:
    """The primitive cell of ``phase`` (one of `PHASES`) of ``element`` at ``volume_per_atom``
    Å³ (hcp with ideal c/a); a start for the relaxation."""
    if phase == "fcc":
        return bulk(element, "fcc", a=(4 * volume_per_atom) ** (1 / 3))
    if phase == "bcc":
        return bulk(element, "bcc", a=(2 * volume_per_atom) ** (1 / 3))
    if phase == "sc":
        return bulk(element, "sc", a=volume_per_atom ** (1 / 3))
    if phase == "hcp":
        ratio = np.sqrt(8 / 3)
        a = (2 * volume_per_atom / (np.sqrt(3) / 2 * ratio)) ** (1 / 3)
        return bulk(element, "hcp", a=a, c=ratio * a)
    raise ValueError(f"unknown phase {phase!r}; choose from {list(PHASES)}")


@dataclass
class PhaseEnergy:
    """One phase relaxed with the potential and with the reference: energies per atom
    (eV/atom), relative to fcc (``relative_*``, eV/atom), volumes (Å³/atom)."""

    phase: str
    energy: float
    volume: float
    reference_energy: float
    reference_volume: float
    relative: float = 0.0
    reference_relative: float = 0.0
    converged: bool = True

    @property
    def error(self) -> float:
        """Error of the energy relative to fcc (eV/atom)."""
        return self.relative - self.reference_relative


def _relaxed(source: EnergySource, atoms: Atoms, fmax: float, max_steps: int) -> tuple[float, float, bool]:
    atoms = atoms.copy()
    result = relax(atoms, as_calculator(source), fmax=fmax, relax_cell=True, max_steps=max_steps, optimizer="BFGS")
    n = len(atoms)
    return float(atoms.get_potential_energy()) / n, float(atoms.get_volume()) / n, bool(result.converged)


def polymorph_ranking(
    source: EnergySource,
    reference: EnergySource,
    element: str = "Cu",
    phases: Sequence[str] = PHASES,
    volume_per_atom: float = 11.8,
    fmax: float = 0.01,
    max_steps: int = 500,
) -> list[PhaseEnergy]:
    """Relax each of ``phases`` (atoms and cell, `equipot.simulate.relax`) with ``source``
    and with ``reference``; energies per atom relative to fcc (or to the first phase if
    fcc is not listed), sorted by the reference energy (the reference ranking)."""
    if not phases:
        raise ValueError(f"phases is empty; give some of {list(PHASES)}")
    rows = []
    for phase in phases:
        start = phase_structure(phase, element, volume_per_atom)
        energy, volume, converged = _relaxed(source, start, fmax, max_steps)
        reference_energy, reference_volume, reference_converged = _relaxed(reference, start, fmax, max_steps)
        rows.append(PhaseEnergy(phase, energy, volume, reference_energy, reference_volume,
                                converged=converged and reference_converged))
    base = next((row for row in rows if row.phase == "fcc"), rows[0])
    for row in rows:
        row.relative = row.energy - base.energy
        row.reference_relative = row.reference_energy - base.reference_energy
    return sorted(rows, key=lambda row: row.reference_relative)


def ranking_table(rows: Sequence[PhaseEnergy]) -> str:
    """A Markdown table of `polymorph_ranking` (meV/atom, Å³/atom), with the ranks."""
    model_rank = {row.phase: rank for rank, row in enumerate(sorted(rows, key=lambda r: r.relative), 1)}
    lines = [
        "| phase | ΔE model (meV/atom) | ΔE reference (meV/atom) | error (meV/atom) | V model (Å³/atom) "
        "| V reference (Å³/atom) | rank model | rank reference |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rank, row in enumerate(rows, 1):
        lines.append(
            f"| {row.phase} | {1000 * row.relative:.1f} | {1000 * row.reference_relative:.1f} | "
            f"{1000 * row.error:+.1f} | {row.volume:.3f} | {row.reference_volume:.3f} | {model_rank[row.phase]} | {rank} |"
        )
    return "\n".join(lines)


@dataclass
class DisorderFrame:
    """A structure of `disorder_structures`: its ``kind`` (``crystal``, ``strained``,
    ``heated``, ``amorphous``), a ``label`` (e.g. ``"heated 1200 K"``), and after
    `disorder_errors` the energy error (eV/atom, model minus reference) and the descriptor
    distance to the crystal."""

    kind: str
    label: str
    atoms: Atoms
    error: float = float("nan")
    distance: float = float("nan")


def disorder_structures(
    reference: EnergySource,
    element: str = "Cu",
    a: float = 3.61,
    repeat: int = 2,
    strains: Sequence[float] = (0.02, 0.05, 0.10),
    temperatures: Sequence[float] = (300.0, 900.0, 1500.0),
    md_steps: int = 100,
    melt_temperature: float = 3000.0,
    quench_steps: int = 200,
    seed: int = 0,
) -> list[DisorderFrame]:
    """Cubic fcc cells (lattice constant ``a`` Å, ``repeat``³ cells) moved ever further from
    the crystal with the ``reference`` calculator: the crystal, uniaxial-plus-shear
    ``strains``, the last frame of ``md_steps`` Langevin steps (2 fs) at each of
    ``temperatures`` K, and an amorphous cell (``md_steps`` at ``melt_temperature`` K, then
    ``quench_steps`` cooling to 300 K)."""
    rng = np.random.default_rng(seed)
    crystal = bulk(element, "fcc", a=a, cubic=True).repeat(repeat)
    frames = [DisorderFrame("crystal", "fcc crystal", crystal.copy())]
    for strain in strains:
        atoms = crystal.copy()
        deformation = np.eye(3) + strain * np.array([[1.0, 0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])
        atoms.set_cell(atoms.cell @ deformation, scale_atoms=True)
        frames.append(DisorderFrame("strained", f"strained {100 * strain:g} %", atoms))
    calculator = as_calculator(reference)
    for temperature in (*temperatures, melt_temperature):
        atoms = crystal.copy()
        atoms.calc = calculator
        thermalize_momenta(atoms, 2 * temperature, rng=rng)
        Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng).run(md_steps)
        if temperature == melt_temperature:
            dynamics = Langevin(atoms, 2 * units.fs, temperature_K=melt_temperature, friction=0.05, fixcm=False, rng=rng)
            for step in range(quench_steps):  # linear cooling to 300 K
                dynamics.set_temperature(temperature_K=melt_temperature + (300.0 - melt_temperature) * step / quench_steps)
                dynamics.run(1)
            kind, label = "amorphous", f"melt-quenched ({melt_temperature:g} K -> 300 K)"
        else:
            kind, label = "heated", f"heated {temperature:g} K"
        result = atoms.copy()
        result.calc = None
        frames.append(DisorderFrame(kind, label, result))
    return frames


def disorder_errors(
    source: EnergySource,
    reference: EnergySource,
    frames: Sequence[DisorderFrame],
    descriptor_model: object | None = None,
) -> list[DisorderFrame]:
    """Fill in each frame's energy error (eV/atom, ``source`` minus ``reference``) and its
    descriptor distance to the crystal: the mean over atoms of the Euclidean distance from
    the atom's invariant features to the nearest atom of the ``crystal`` frames (those of
    kind ``crystal``). Features come from ``descriptor_model`` (default: ``source`` if it is
    an equipot model; an ASE calculator has none, so give one)."""
    model = descriptor_model if descriptor_model is not None else source
    crystals = [frame.atoms for frame in frames if frame.kind == "crystal"]
    if not crystals:
        raise ValueError("frames hold no 'crystal' frame to measure distances from")
    try:
        crystal_features = torch.as_tensor(invariant_features(model, crystals)[0])
    except TypeError as error:
        raise TypeError(
            f"descriptor distances need an equipot model: pass descriptor_model= (got {type(model).__name__})"
        ) from error
    model_calc, reference_calc = as_calculator(source), as_calculator(reference)
    for frame in frames:
        n = len(frame.atoms)
        energies = []
        for calculator in (model_calc, reference_calc):
            atoms = frame.atoms.copy()
            atoms.calc = calculator
            energies.append(float(atoms.get_potential_energy()) / n)
        frame.error = energies[0] - energies[1]
        features = torch.as_tensor(invariant_features(model, frame.atoms)[0])
        frame.distance = float(nearest_distances(features, crystal_features).mean())
    return list(frames)


def plot_disorder_errors(frames: Sequence[DisorderFrame], path: str | os.PathLike, title: str = "") -> Path:
    """|energy error| (meV/atom) against the descriptor distance, one marker per kind, as a PNG."""
    from ..plots._figure import legend_outside, new_figure, save_figure

    figure, (axes,) = new_figure(size=(6.4, 4.4))
    markers = {"crystal": "o", "strained": "s", "heated": "^", "amorphous": "D"}
    for kind, marker in markers.items():
        chosen = [frame for frame in frames if frame.kind == kind]
        if chosen:
            axes.scatter([f.distance for f in chosen], [1000 * abs(f.error) for f in chosen], marker=marker, label=kind)
    axes.set_xlabel("descriptor distance to the fcc crystal")
    axes.set_ylabel("|energy error| (meV/atom)")
    if title:
        axes.set_title(title)
    legend_outside(axes)
    return save_figure(figure, path)
