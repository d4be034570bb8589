"""The NaCl reference of ``scripts/nacl_bmh.py`` (Tosi–Fumi BMH + Ewald of formal charges):
forces and stress against central finite differences, its Coulomb part against the
Madelung energy, and the rocksalt lattice constant and CsCl energy it gives."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from equipot.longrange import COULOMB_CONSTANT


def strained_rattled(atoms: Atoms, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    strain = 0.03 * rng.uniform(-1, 1, (3, 3))
    atoms.set_cell(atoms.cell @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
    atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
    return atoms


@pytest.mark.parametrize(
    "atoms",
    [
        strained_rattled(bulk("NaCl", "rocksalt", a=5.62, cubic=True), 0),
        strained_rattled(Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * 3.43, pbc=True), 1),
        strained_rattled(Atoms("NaClNaCl", positions=[[0, 0, 0], [2.8, 0, 0], [2.8, 2.8, 0], [0, 2.9, 0.2]]), 2),
    ],
    ids=["rocksalt", "cscl", "cluster"],
)
def test_forces_and_stress_are_the_derivatives_of_the_energy(nacl_bmh, atoms: Atoms) -> None:
    calculator = nacl_bmh.BMHCoulombCalculator()
    atoms.calc = calculator
    forces = atoms.get_forces()
    step = 1e-4
    numeric = np.zeros_like(forces)
    for i in range(len(atoms)):
        for k in range(3):
            energies = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.positions[i, k] += sign * step
                moved.calc = calculator
                energies.append(moved.get_potential_energy())
            numeric[i, k] = -(energies[0] - energies[1]) / (2 * step)
    np.testing.assert_allclose(forces, numeric, atol=2e-6)
    if atoms.pbc.all():
        from ase.stress import voigt_6_to_full_3x3_stress

        stress = voigt_6_to_full_3x3_stress(atoms.get_stress())
        numeric_stress = np.zeros((3, 3))
        for a in range(3):
            for b in range(3):
                energies = []
                for sign in (1, -1):
                    eps = np.zeros((3, 3))
                    eps[a, b] = eps[b, a] = sign * step / (1 if a == b else 2)
                    moved = atoms.copy()
                    moved.set_cell(atoms.cell @ (np.eye(3) + eps), scale_atoms=True)
                    moved.calc = calculator
                    energies.append(moved.get_potential_energy())
                numeric_stress[a, b] = (energies[0] - energies[1]) / (2 * step) / atoms.get_volume()
        # the Ewald parameters follow the cell (chosen for 1e-8 e/Å), so the energy of
        # strained copies carries ~1e-8 eV of parameter noise: 2e-7 eV/Å³ measured
        np.testing.assert_allclose(stress, numeric_stress, atol=5e-7)


def test_the_coulomb_part_is_the_madelung_energy_of_rocksalt(nacl_bmh, monkeypatch) -> None:
    monkeypatch.setitem(nacl_bmh.TOSI_FUMI_NACL, "pairs", {pair: (0.0, 1.0, 0.0, 0.0) for pair in nacl_bmh.TOSI_FUMI_NACL["pairs"]})
    atoms = bulk("NaCl", "rocksalt", a=5.62, cubic=True)
    atoms.calc = nacl_bmh.BMHCoulombCalculator()
    madelung = -1.7475645946 * COULOMB_CONSTANT / (5.62 / 2)  # eV per ion pair
    assert atoms.get_potential_energy() / 4 == pytest.approx(madelung, abs=1e-6)


def test_rocksalt_is_stable_at_5_62_and_below_cscl(nacl_bmh) -> None:
    calculator = nacl_bmh.BMHCoulombCalculator(accuracy=1e-6)
    pressures = []
    for a in (5.58, 5.66):
        atoms = bulk("NaCl", "rocksalt", a=a, cubic=True)
        atoms.calc = calculator
        pressures.append(-atoms.get_stress()[:3].mean())
    assert pressures[0] > 0 > pressures[1]  # zero pressure in between (5.62 Å)
    rocksalt = bulk("NaCl", "rocksalt", a=5.62, cubic=True)
    rocksalt.calc = calculator
    cscl = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * 3.43, pbc=True)
    cscl.calc = calculator
    per_pair = rocksalt.get_potential_energy() / 4, cscl.get_potential_energy()
    assert per_pair[0] == pytest.approx(-8.055, abs=2e-3)  # lattice energy, eV per ion pair
    assert 0.25 < per_pair[1] - per_pair[0] < 0.35  # CsCl structure higher, by ~0.3 eV per pair


def test_other_elements_are_refused_in_one_line(nacl_bmh) -> None:
    atoms = bulk("KCl", "rocksalt", a=6.3, cubic=True)
    atoms.calc = nacl_bmh.BMHCoulombCalculator()
    with pytest.raises(ValueError, match="knows Na and Cl only; the structure has atomic numbers \\[19\\]"):
        atoms.get_potential_energy()
