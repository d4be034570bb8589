"""The stable time step: 2 / omega for a harmonic bond, where velocity Verlet really turns
unstable, and consistent with the vibrational frequencies."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from equipot.properties import SAFETY_FRACTION, stable_timestep, timestep_from_hessian, vibrations


class HarmonicBond(Calculator):
    """E = k (r - r0)^2 / 2 between atoms 0 and 1 (eV, Å)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, k: float, r0: float):
        super().__init__()
        self.k, self.r0 = k, r0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        vector = self.atoms.positions[1] - self.atoms.positions[0]
        distance = np.linalg.norm(vector)
        force = -self.k * (distance - self.r0) * vector / distance  # on atom 1
        self.results = {"energy": 0.5 * self.k * (distance - self.r0) ** 2, "forces": np.array([-force, force])}


K, R0 = 30.0, 1.1  # eV/Å², Å


def _bond(stretch: float = 0.0) -> Atoms:
    return Atoms("CO", positions=[[0, 0, 0], [R0 + stretch, 0, 0]])


def test_harmonic_bond_limit_is_two_over_omega() -> None:
    atoms = _bond()
    estimate = stable_timestep(HarmonicBond(K, R0), atoms, delta=1e-4)
    mu = np.prod(atoms.get_masses()) / atoms.get_masses().sum()
    omega = np.sqrt(K / mu) * units.fs  # rad/fs
    assert estimate.omega_max == pytest.approx(omega, rel=1e-6)
    assert estimate.stability_limit_fs == pytest.approx(2 / omega, rel=1e-6)
    assert estimate.period_fs == pytest.approx(2 * np.pi / omega, rel=1e-6)
    assert estimate.recommended_fs == pytest.approx(SAFETY_FRACTION * 2 / omega, rel=1e-6)


@pytest.mark.parametrize(("factor", "stable"), [(0.95, True), (1.05, False)])
def test_velocity_verlet_diverges_just_above_the_limit(factor: float, stable: bool) -> None:
    atoms = _bond(stretch=0.01)
    atoms.calc = HarmonicBond(K, R0)
    limit = stable_timestep(atoms.calc, _bond(), delta=1e-4).stability_limit_fs
    start = atoms.get_total_energy()
    VelocityVerlet(atoms, timestep=factor * limit * units.fs).run(60)
    growth = atoms.get_total_energy() / start
    assert bool(growth < 10.0) == stable, growth


def test_limit_follows_the_highest_vibrational_frequency() -> None:
    water = molecule("H2O")
    water.calc = EMT()
    BFGS(water, logfile=None).run(fmax=1e-4)
    result = vibrations(EMT(), water)
    estimate = timestep_from_hessian(result.hessian, water.get_masses(), fraction=0.2)
    assert estimate.max_frequency_cm == pytest.approx(result.frequencies_cm[-1], rel=1e-9)
    omega_per_fs = 2 * np.pi * units._c * 100 * result.frequencies_cm[-1] * 1e-15
    assert estimate.recommended_fs == pytest.approx(0.2 * 2 / omega_per_fs, rel=1e-9)
    assert 0.3 < estimate.recommended_fs < 1.0  # O-H stretch: about half a femtosecond


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        timestep_from_hessian(np.eye(6), np.ones(2), fraction=0.0)
    with pytest.raises(ValueError, match="no positive eigenvalue"):
        timestep_from_hessian(np.zeros((6, 6)), np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        timestep_from_hessian(np.eye(5), np.ones(2))
