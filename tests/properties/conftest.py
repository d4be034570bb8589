"""Fixtures of the property tests: tiny float64 models (untrained, deterministic) and
EMT's equilibrium fcc Cu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from equipot import EquivariantPotential, save_model


def tiny_model(species: list[str], seed: int = 0, scale: float = 20.0) -> EquivariantPotential:
    """4 channels, one layer: milliseconds per evaluation. ``scale`` stiffens the untrained
    energy surface so that its vibrations sit well above the zero-mode tolerance."""
    torch.manual_seed(seed)
    model = EquivariantPotential(
        species=species, cutoff=3.0, num_channels=4, num_layers=1, correlation=2, dtype=torch.float64
    )
    model.set_normalization(scale=scale)
    return model.eval()


@pytest.fixture(scope="session")
def molecule_model() -> EquivariantPotential:
    return tiny_model(["H", "C", "O"], seed=1)


@pytest.fixture(scope="session")
def cu_model() -> EquivariantPotential:
    return tiny_model(["Cu"], seed=0, scale=5.0)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny H/C/O/Cu model on disk, for the command-line tests."""
    return save_model(tiny_model(["H", "C", "O", "Cu"], seed=2), tmp_path_factory.mktemp("model") / "model.pt")


@pytest.fixture(scope="session")
def emt_cu_lattice() -> float:
    """EMT's equilibrium fcc lattice constant of Cu (Å), by minimizing the energy."""

    def energy(a: float) -> float:
        atoms = bulk("Cu", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    return float(minimize_scalar(energy, bracket=(3.5, 3.6, 3.7), tol=1e-10).x)


def random_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
