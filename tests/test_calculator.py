"""`EquipotCalculator` against ASE's contract, optimizers and MD."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_stress
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.units import fs

from equipot import EquipotCalculator, EquivariantPotential, save_model
from equipot.models import UnknownElementError


@pytest.fixture(scope="module")
def model() -> EquivariantPotential:
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O", "Cu"], cutoff=4.0, num_channels=8, dtype=torch.float64)
    # untrained, but with the normalization a trained model gets, so forces stay moderate
    model.set_normalization(avg_num_neighbors=8.0, scale=0.1)
    return model


def test_results_follow_ase_conventions(model):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.calc = EquipotCalculator(model)
    energy = atoms.get_potential_energy()
    assert atoms.get_potential_energy(force_consistent=True) == energy
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), energy, rtol=1e-12)
    assert atoms.get_forces().shape == (4, 3)
    stress = atoms.get_stress()
    assert stress.shape == (6,)
    # ASE's own finite-difference stress (Voigt order, sign and units) agrees
    np.testing.assert_allclose(stress, calculate_numerical_stress(atoms, eps=1e-5), atol=1e-7)


def test_stress_of_a_molecule_is_not_defined(model):
    atoms = molecule("CH3OH")
    atoms.calc = EquipotCalculator(model)
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.get_stress()


def test_unknown_element_names_it(model):
    atoms = molecule("NH3")
    atoms.calc = EquipotCalculator(model)
    with pytest.raises(UnknownElementError, match=r"element N \(Z=7\).*\['H', 'C', 'O', 'Cu'\]"):
        atoms.get_potential_energy()


def test_bfgs_and_velocity_verlet_run(model):
    atoms = molecule("CH3CH2OH")
    atoms.calc = EquipotCalculator(model)
    optimizer = BFGS(atoms, logfile=None)
    optimizer.run(fmax=0.05, steps=20)
    assert np.isfinite(atoms.get_forces()).all()
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.25 * fs, logfile=None)
    start = atoms.get_total_energy()
    dynamics.run(20)
    assert abs(atoms.get_total_energy() - start) < 1e-4 * len(atoms)


def test_float32_calculator_from_float64_model(model):
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)
    atoms.rattle(0.02, seed=2)
    reference = EquipotCalculator(model).get_potential_energy(atoms)
    single = EquipotCalculator(model, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in single.model.parameters())
    np.testing.assert_allclose(single.get_potential_energy(atoms), reference, rtol=1e-5)


def test_from_file_round_trip(model, tmp_path):
    path = save_model(model, tmp_path / "model.pt", metadata={"note": "test"})
    atoms = molecule("CH3OH")
    atoms.calc = EquipotCalculator(model)
    expected = atoms.get_forces()
    loaded = EquipotCalculator.from_file(path)
    assert loaded.model.metadata == {"note": "test"}
    np.testing.assert_allclose(loaded.get_forces(atoms), expected, rtol=1e-12, atol=1e-12)


def test_empty_structure_gives_zero(model):
    calc = EquipotCalculator(model)
    atoms = Atoms()
    assert calc.get_potential_energy(atoms) == 0.0
