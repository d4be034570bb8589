"""Tiny datasets (EMT labels) and tiny training configs for the training tests
(imported by the tests as ``train_helpers``; pytest puts this folder on the path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.config import TrainConfig

#: the smallest model that still has every part (1 layer, l <= 1, 4 channels)
TINY_MODEL = {
    "num_channels": 4,
    "num_layers": 1,
    "lmax": 1,
    "hidden_lmax": 1,
    "correlation": 2,
    "radial_hidden": 8,
    "num_radial_basis": 4,
    "readout_hidden": 4,
    "cutoff": 3.0,
}


def write_molecules(path: Path, n: int = 16, seed: int = 0, forces: bool = True) -> Path:
    """``n`` distorted CH4 molecules (5 atoms each) with EMT energy (and forces)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = molecule("CH4")
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        atoms.calc = EMT()
        labels = {"energy": atoms.get_potential_energy()}
        if forces:
            labels["forces"] = atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    ase.io.write(path, frames)
    return path


def write_copper(path: Path, n: int = 6, seed: int = 0) -> Path:
    """``n`` strained, rattled fcc Cu cells (4 atoms) with EMT energy, forces and stress."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", cubic=True)
        strain = np.eye(3) + 0.02 * rng.uniform(-1, 1, (3, 3))
        atoms.set_cell(atoms.cell @ (strain + strain.T) / 2, scale_atoms=True)
        atoms.rattle(0.05, seed=int(rng.integers(1 << 31)))
        atoms.calc = EMT()
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    ase.io.write(path, frames)
    return path


def tiny_config(train_file: Path, output_dir: Path, **overrides: Any) -> TrainConfig:
    """A config for a few seconds of training on ``train_file``."""
    data = {"train_file": str(train_file), "n_valid": 4, **overrides.pop("data", {})}
    config: dict[str, Any] = {
        "data": data,
        "model": {**TINY_MODEL, **overrides.pop("model", {})},
        "max_epochs": 2,
        "batch_size": 4,
        "output_dir": str(output_dir),
        "accelerator": "cpu",
        **overrides,
    }
    return TrainConfig.model_validate(config)
