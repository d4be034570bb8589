"""Fixtures of the long-range tests: the NaCl reference calculator of ``scripts/nacl_bmh.py``
(imported from the file, it is not part of the package) and small labelled NaCl cells."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator



def load_script_module(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (pytest puts ``scripts/`` on the path, pyproject.toml)."""
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def nacl_bmh() -> ModuleType:
    return load_script_module("nacl_bmh")


@pytest.fixture(scope="session")
def nacl_generator(nacl_bmh: ModuleType) -> ModuleType:
    """``scripts/generate_nacl_bmh.py`` (it imports ``nacl_bmh`` and ``provenance``)."""
    return load_script_module("generate_nacl_bmh")


@pytest.fixture(scope="session")
def nacl_pair_distances(nacl_bmh: ModuleType) -> ModuleType:
    return load_script_module("nacl_pair_distances")


@pytest.fixture(scope="session")
def nacl_study_sets(nacl_generator: ModuleType) -> ModuleType:
    """``scripts/make_nacl_study_sets.py`` (it runs ``generate_nacl_bmh`` per part)."""
    return load_script_module("make_nacl_study_sets")


@pytest.fixture(scope="session")
def nacl_cells_file(nacl_bmh: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 rattled, strained 8-atom rocksalt NaCl cells with BMH + Ewald energy, forces,
    stress and the formal charges."""
    rng = np.random.default_rng(0)
    calculator = nacl_bmh.BMHCoulombCalculator(accuracy=1e-6)
    frames = []
    for _ in range(12):
        atoms = bulk("NaCl", "rocksalt", a=5.62, cubic=True)
        strain = 0.02 * rng.uniform(-1, 1, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        atoms.calc = calculator
        labels = {
            "energy": atoms.get_potential_energy(),
            "forces": atoms.get_forces(),
            "stress": atoms.get_stress(),
            "charges": calculator.results["charges"],
        }
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    path = tmp_path_factory.mktemp("nacl") / "nacl.xyz"
    ase.io.write(path, frames)
    return path


@pytest.fixture(scope="session")
def nacl_study(nacl_bmh: ModuleType) -> ModuleType:
    return load_script_module("longrange_nacl_study")
