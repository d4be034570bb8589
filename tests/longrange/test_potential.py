"""LongRangePotential: equivariance, finite differences and charge conservation, all three schemes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from equipot import EquipotCalculator
from equipot.data import graph_from_atoms
from equipot.longrange import CoulombEnergy, LongRangeError, LongRangePotential
from equipot.models import EquivariantPotential, PeriodicDipoleError
from equipot.testing import (
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_stress_match_finite_differences,
)

SCHEMES = {
    "neutral": {"screening": "none"},
    "qeq": {"screening": "gaussian", "sigma": 1.0},
    "fixed": {"screening": "none"},
}
FIXED_CHARGES = {"Na": 0.9, "Cl": -0.9}  # not ±1, so that a wrong table or a missing correction shows


def _hybrid(scheme: str, accuracy: float = 1e-9) -> LongRangePotential:
    torch.manual_seed(0)
    local = EquivariantPotential(
        species=["Na", "Cl"], cutoff=3.5, num_channels=4, lmax=1, hidden_lmax=1, num_layers=1, correlation=2,
        radial_hidden=8, readout_hidden=4, dtype=torch.float64,
    )
    coulomb = CoulombEnergy(method="auto", accuracy=accuracy, real_space_cutoff=6.0, **SCHEMES[scheme])
    fixed = FIXED_CHARGES if scheme == "fixed" else None
    model = LongRangePotential(local, charges=scheme, coulomb=coulomb, fixed_charges=fixed).eval()
    if model.charge_head.element_baseline is not None:  # per-element charges (or electronegativities) in play
        with torch.no_grad():
            model.charge_head.element_baseline[[11, 17]] = torch.tensor([0.7, -0.4], dtype=torch.float64)
    return model


def _crystal(charge: float = 0.0) -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.0) * (1, 1, 2)
    atoms.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + [[0.02, 0.01, 0], [0, -0.03, 0.02], [0, 0, 0.01]]), scale_atoms=True)
    atoms.rattle(0.1, seed=1)
    atoms.info["charge"] = charge
    return atoms


def _molecule(charge: float = 0.0) -> Atoms:
    rng = np.random.default_rng(3)
    positions = np.array([[0, 0, 0], [2.4, 0, 0], [0, 2.5, 0.3], [2.2, 2.3, 1.4], [1.1, 1.0, 2.6]]) + rng.normal(0, 0.05, (5, 3))
    atoms = Atoms("NaClNaClNa", positions=positions)
    atoms.info["charge"] = charge
    return atoms


OUTPUTS = ("energy", "forces", "charges", "electrostatic_potential", "energy_long_range", "energy_short_range")


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_outputs_are_equivariant(scheme: str) -> None:
    model = _hybrid(scheme)
    assert_equivariant(model, _molecule(charge=1.0), (*OUTPUTS, "dipole"), trials=1)
    assert_equivariant(model, _crystal(), (*OUTPUTS, "stress"), trials=1)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_forces_and_stress_match_finite_differences(scheme: str) -> None:
    model = _hybrid(scheme)
    assert_forces_match_finite_differences(model, _molecule(charge=1.0), max_atoms=3)
    assert_forces_match_finite_differences(model, _crystal(), max_atoms=2)
    assert_stress_match_finite_differences(model, _crystal())


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_total_charge_is_conserved_and_the_energy_splits(scheme: str) -> None:
    model = _hybrid(scheme)
    structures = [(_molecule(charge=1.0), 1.0), (_crystal(charge=-2.0), -2.0), (_molecule(), 0.0)]
    for atoms, total in structures:
        graph = graph_from_atoms(atoms, model.cutoff)
        out = model(graph, outputs={"energy", "charges", "energy_short_range", "energy_long_range"})
        assert float(out.extra["charges"].detach().sum()) == pytest.approx(total, abs=1e-10)
        assert float(out.extra["charges"].detach().abs().max()) > 1e-3  # charges are not all zero
        split = out.extra["energy_short_range"] + out.extra["energy_long_range"]
        torch.testing.assert_close(split, out.energy, rtol=0, atol=1e-10)


def test_the_calculator_exposes_charges_and_the_long_range_energy() -> None:
    model = _hybrid("neutral", accuracy=1e-6)
    atoms = _molecule()
    atoms.calc = EquipotCalculator(model)
    charges = atoms.calc.get_property("charges", atoms)
    assert charges.shape == (len(atoms),) and abs(charges.sum()) < 1e-10
    dipole = atoms.calc.get_property("dipole", atoms)
    positions = atoms.positions - atoms.get_center_of_mass()
    np.testing.assert_allclose(dipole, (charges[:, None] * positions).sum(0), atol=1e-10)
    crystal = _crystal()
    crystal.calc = EquipotCalculator(model)
    assert np.isfinite(crystal.get_potential_energy())
    with pytest.raises(PeriodicDipoleError, match="dipole of a periodic cell is not defined"):
        crystal.calc.get_property("dipole", crystal)


def test_qeq_without_gaussian_charges_is_refused() -> None:
    local = _hybrid("neutral").local
    model = LongRangePotential(local, charges="qeq", coulomb=CoulombEnergy())
    with pytest.raises(LongRangeError, match="charges 'qeq' needs Gaussian charges"):
        model(graph_from_atoms(_molecule(), model.cutoff), outputs={"energy"})
    with pytest.raises(LongRangeError, match="charge scheme must be one of"):
        LongRangePotential(local, charges="eem")


def test_fixed_charges_are_the_elements_values_shifted_equally_to_the_total_charge() -> None:
    model = _hybrid("fixed")
    assert list(model.charge_head.parameters()) == []  # nothing learned, no charge head
    atoms = _molecule(charge=-1.0)  # Na3Cl2: 3 x 0.9 - 2 x 0.9 = 0.9 e, corrected by -1.9/5 e each
    out = model(graph_from_atoms(atoms, model.cutoff), outputs={"energy", "charges"})
    expected = torch.tensor([0.9, -0.9, 0.9, -0.9, 0.9], dtype=torch.float64) - 1.9 / 5
    torch.testing.assert_close(out.extra["charges"].detach(), expected, rtol=0, atol=1e-12)
    crystal = _crystal()  # neutral as given: the charges are the table's exactly
    charges = model(graph_from_atoms(crystal, model.cutoff), outputs={"energy", "charges"}).extra["charges"].detach()
    torch.testing.assert_close(charges, torch.tensor([0.9 if z == 11 else -0.9 for z in crystal.numbers], dtype=torch.float64))


def test_fixed_charges_refuse_an_element_without_a_charge() -> None:
    local = _hybrid("neutral").local
    model = LongRangePotential(local, charges="fixed", coulomb=CoulombEnergy(), fixed_charges={"Na": 1.0})
    with pytest.raises(LongRangeError, match=r"no fixed charge for \['Cl'\]; add them to long_range.fixed_charges"):
        model(graph_from_atoms(_crystal(), model.cutoff), outputs={"energy"})
    with pytest.raises(LongRangeError, match="fixed_charges go with the scheme 'fixed' and only with it"):
        LongRangePotential(local, charges="neutral", fixed_charges={"Na": 1.0, "Cl": -1.0})
