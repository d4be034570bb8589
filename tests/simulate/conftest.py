"""Shared pieces of the simulation tests: EMT's own Cu equilibrium, a tiny saved model,
and single-threaded OpenBLAS.

OpenBLAS threads spin against each other on a loaded 2-core machine: the 3x3 matrix
exponentials and solves inside ASE's cell filter and Langevin barostat took about 3 ms
each instead of microseconds (a cell relaxation of 32 EMT atoms: 8.9 s with 2 threads,
1.9 s with one), so these tests run with one BLAS thread, set through the OpenBLAS
libraries that numpy and scipy load (the same call threadpoolctl makes).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS so that it can be found below)
import torch
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from equipot import EquivariantPotential, save_model

_OPENBLAS_THREAD_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads",
                            "scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_")


def _openblas_libraries() -> list[ctypes.CDLL]:
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:  # not Linux: leave the thread count alone
        return []
    return [ctypes.CDLL(path) for path in sorted(paths)]


def _set_openblas_threads(count: int) -> None:
    for library in _openblas_libraries():
        for name in _OPENBLAS_THREAD_SETTERS:
            if hasattr(library, name):
                getattr(library, name)(count)


def _openblas_threads() -> int | None:
    for library in _openblas_libraries():
        for name in _OPENBLAS_THREAD_SETTERS:
            getter = name.replace("_set_", "_get_")
            if hasattr(library, name) and hasattr(library, getter):
                return int(getattr(library, getter)())
    return None


@pytest.fixture(autouse=True, scope="session")
def _single_blas_thread():
    previous = _openblas_threads()
    _set_openblas_threads(1)
    yield
    if previous is not None:  # later tests (other folders) run as they would alone
        _set_openblas_threads(previous)


@pytest.fixture(scope="session")
def emt_cu_equilibrium() -> dict[str, float]:
    """EMT's own fcc Cu at 0 K: lattice constant ``a0`` (Å) from a Birch-Murnaghan fit of
    E(V) over +-2 % in a, bulk modulus ``B_GPa``, and ``a_5GPa``, the lattice constant at
    5 GPa interpolated from EMT's analytic stress."""
    volumes, energies = [], []
    for a in np.linspace(3.52, 3.66, 9):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, _, modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    a0 = (v0) ** (1.0 / 3.0)
    lattice = np.linspace(0.97 * a0, a0, 13)
    pressures = []
    for a in lattice:
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        pressures.append(-atoms.get_stress()[:3].mean() / units.GPa)
    a_5 = float(np.interp(5.0, pressures[::-1], lattice[::-1]))
    return {"a0": float(a0), "B_GPa": float(modulus / units.GPa), "a_5GPa": a_5}


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """An untrained float64 Cu model (4 channels), saved with `save_model`."""
    torch.manual_seed(0)
    model = EquivariantPotential(species=["Cu"], cutoff=3.0, num_channels=4, lmax=1, hidden_lmax=1, num_layers=2,
                                 correlation=2, dtype=torch.float64)
    model.set_normalization(scale=10.0)
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.pt")
