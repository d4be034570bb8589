"""Exploration: short Langevin MD runs of the current model, whose frames are the
candidates for labelling."""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ..calculator import EquipotCalculator
from ..config.learn import ExplorationSection
from ..models import Potential

__all__ = ["explore"]


def explore(
    potential: Potential, starts: list[Atoms], settings: ExplorationSection, seed: int
) -> list[tuple[Atoms, str]]:
    """Frames of one Langevin run per starting structure and temperature.

    Every ``settings.sample_every`` steps a copy of the structure is kept, with its origin
    (``md:T=300K``). The velocities and the noise are drawn from
    ``np.random.default_rng([seed, start index, temperature index])``. A run whose
    positions turn non-finite (the model exploded) stops there; its finite frames stay.
    """
    calculator = EquipotCalculator(potential)
    frames: list[tuple[Atoms, str]] = []
    for start_index, start in enumerate(starts):
        for t_index, temperature in enumerate(settings.temperatures_K):
            rng = np.random.default_rng([seed, start_index, t_index])
            atoms = start.copy()
            atoms.calc = calculator
            thermalize_momenta(atoms, temperature, rng=rng)
            Stationary(atoms)
            origin = f"md:T={temperature:g}K"
            dynamics = Langevin(
                atoms, settings.timestep_fs * units.fs, temperature_K=temperature,
                friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng,
            )
            for _ in range(settings.steps // settings.sample_every):
                dynamics.run(settings.sample_every)
                if not np.isfinite(atoms.positions).all():
                    break
                frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
                frames.append((frame, origin))
    return frames
