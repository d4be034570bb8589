"""Polarization from charges and ferroelectric domain labels (issue 18, part 5), on a
perovskite-like supercell with formal charges."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from equipot import EquivariantPotential
from equipot.config import ModelConfig
from equipot.longrange import (
    E_PER_A2_TO_C_PER_M2,
    build_potential,
    classify_domains,
    local_polarization,
    polarization,
    structure_polarization,
    unit_cell_groups,
)
from equipot.testing import random_rotation

A = 4.0  # Å, cubic perovskite-like cell
FORMAL = {"Ba": 2.0, "Ti": 4.0, "O": -2.0}


def _perovskite(repetitions=(1, 1, 1)) -> Atoms:
    cell = Atoms("BaTiO3", cell=np.eye(3) * A, pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return cell.repeat(repetitions)


def _charges(atoms: Atoms) -> np.ndarray:
    return np.array([FORMAL[symbol] for symbol in atoms.get_chemical_symbols()])


def _domains(reference: Atoms, repetitions, displacement_of_cell) -> Atoms:
    """``reference`` with the Ti of unit cell g displaced by ``displacement_of_cell(g)`` (Å)."""
    atoms = reference.copy()
    groups = unit_cell_groups(reference.positions, reference.cell.array, repetitions)
    for index in np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "Ti"):
        atoms.positions[index] += displacement_of_cell(groups[index])
    return atoms


def test_a_displaced_ti_gives_the_point_charge_polarization_with_minimum_images() -> None:
    reference = _perovskite()
    atoms = reference.copy()
    atoms.positions[1, 2] += 0.1  # Ti (+4 e) up by 0.1 Å
    atoms.positions[2, 2] -= 0.05  # the O at z = 0 moves down, across the cell face
    atoms.wrap()
    assert atoms.positions[2, 2] == pytest.approx(A - 0.05)  # wrapped: the raw difference is 3.95 Å
    P = polarization(_charges(atoms), atoms.positions, reference.positions, atoms.cell.array)
    expected = (4.0 * 0.1 + (-2.0) * (-0.05)) / A**3
    assert P == pytest.approx([0.0, 0.0, expected], abs=1e-14)
    assert P[2] * E_PER_A2_TO_C_PER_M2 == pytest.approx(0.5 / 64 * 16.02176634)  # 0.125 C/m²


def test_translations_leave_the_polarization_unchanged_and_a_charged_cell_is_refused() -> None:
    reference = _perovskite((2, 1, 1))
    rng = np.random.default_rng(0)
    atoms = reference.copy()
    atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
    charges, cell = _charges(atoms), atoms.cell.array
    P = polarization(charges, atoms.positions, reference.positions, cell)
    shift = np.array([1.3, -7.1, 2.9])
    both = polarization(charges, atoms.positions + shift, reference.positions + shift, cell)
    structure_only = polarization(charges, atoms.positions + shift, reference.positions, cell)  # neutral: no change
    assert np.allclose(both, P, atol=1e-14) and np.allclose(structure_only, P, atol=1e-14)
    with pytest.raises(ValueError, match="charges sum to 2 e: the polarization of a charged cell depends on its origin"):
        polarization(charges + 0.2, atoms.positions, reference.positions, cell)
    with pytest.raises(ValueError, match="charges must have one value per atom"):
        polarization(charges[:-1], atoms.positions, reference.positions, cell)
    with pytest.raises(ValueError, match="needs a 3D periodic cell"):
        polarization(charges, atoms.positions, reference.positions, np.zeros((3, 3)))


@pytest.mark.parametrize("improper", [False, True])
def test_a_rotated_crystal_has_the_rotated_polarization_and_the_same_domains(improper: bool) -> None:
    repetitions = (4, 1, 1)
    reference = _perovskite(repetitions)
    atoms = _domains(reference, repetitions, lambda g: np.array([0.1, -0.1, 0.1]) * (1 if g < 2 else -1))
    rng = np.random.default_rng(1)
    atoms.positions += rng.normal(scale=0.01, size=atoms.positions.shape)
    R = random_rotation(rng, improper=improper)
    charges, groups = _charges(atoms), unit_cell_groups(reference.positions, reference.cell.array, repetitions)
    local = local_polarization(charges, atoms.positions, reference.positions, atoms.cell.array, groups)
    rotated = local_polarization(charges, atoms.positions @ R.T, reference.positions @ R.T, atoms.cell.array @ R.T,
                                 groups)
    assert np.allclose(rotated, local @ R.T, atol=1e-13)
    assert np.allclose(polarization(charges, atoms.positions @ R.T, reference.positions @ R.T, atoms.cell.array @ R.T),
                       polarization(charges, atoms.positions, reference.positions, atoms.cell.array) @ R.T, atol=1e-13)
    labels = classify_domains(local, atoms.cell.array, "rhombohedral").labels
    assert labels == ["[1-11]", "[1-11]", "[-11-1]", "[-11-1]"]
    assert classify_domains(rotated, atoms.cell.array @ R.T, "rhombohedral").labels == labels


def test_two_tetragonal_domains_and_a_90_degree_wall() -> None:
    repetitions = (4, 2, 1)
    reference = _perovskite(repetitions)
    groups = unit_cell_groups(reference.positions, reference.cell.array, repetitions)
    assert np.bincount(groups).tolist() == [5] * 8  # each unit cell holds one BaTiO3
    up = np.array([0.0, 0.0, 0.12])
    # cells with a-index 0, 1 (groups 0-3) polarized +z, cells 2, 3 (groups 4-7) -z: a 180° wall
    atoms = _domains(reference, repetitions, lambda g: up if g < 4 else -up)
    atoms.positions += np.random.default_rng(2).normal(scale=0.005, size=atoms.positions.shape)  # thermal noise
    charges = _charges(atoms)
    local = local_polarization(charges, atoms.positions, reference.positions, atoms.cell.array, groups)
    domains = classify_domains(local, atoms.cell.array, "tetragonal", min_magnitude=0.002)
    assert domains.labels == ["+z"] * 4 + ["-z"] * 4
    assert np.allclose(np.abs(local[:, 2]), 4 * 0.12 / A**3, rtol=0.2) and (domains.cosines > 0.9).all()
    total = polarization(charges, atoms.positions, reference.positions, atoms.cell.array)
    assert abs(total[2]) < 0.1 * 4 * 0.12 / A**3  # the two domains cancel

    # a 90° wall: the second half polarized along +x instead; an undisplaced cell is "none"
    atoms = _domains(reference, repetitions, lambda g: up if g < 4 else (np.array([0.12, 0, 0]) if g < 7 else 0 * up))
    local = local_polarization(charges, atoms.positions, reference.positions, atoms.cell.array, groups)
    assert classify_domains(local, atoms.cell.array, min_magnitude=0.002).labels == ["+z"] * 4 + ["+x"] * 3 + ["none"]
    with pytest.raises(ValueError, match="family must be one of"):
        classify_domains(local, atoms.cell.array, "monoclinic")
    with pytest.raises(ValueError, match="groups \\[1\\] have no atoms"):
        local_polarization(charges, atoms.positions, reference.positions, atoms.cell.array, np.where(groups == 1, 0, groups))


def test_the_charges_of_a_long_range_potential() -> None:
    torch.manual_seed(0)
    config = ModelConfig(species=["Ba", "Ti", "O"], cutoff=3.0, num_channels=4, lmax=1, num_layers=1,
                         long_range={"charges": "neutral", "accuracy": 1e-5})
    model = build_potential(config, dtype=torch.float64)
    reference = _perovskite()
    atoms = reference.copy()
    atoms.positions[1] += [0.05, 0.02, 0.15]
    P, charges = structure_polarization(model, atoms, reference)
    assert abs(charges.sum()) < 1e-12 and np.abs(charges).max() > 0
    assert np.allclose(P, polarization(charges, atoms.positions, reference.positions, atoms.cell.array), atol=1e-15)
    R = random_rotation(np.random.default_rng(3))
    turned, turned_reference = atoms.copy(), reference.copy()
    for structure in (turned, turned_reference):
        structure.set_cell(structure.cell.array @ R.T, scale_atoms=False)
        structure.positions = structure.positions @ R.T
    P_turned, charges_turned = structure_polarization(model, turned, turned_reference)
    assert np.allclose(charges_turned, charges, atol=1e-10) and np.allclose(P_turned, R @ P, atol=1e-12)
    local_only = EquivariantPotential(species=["Ba", "Ti", "O"], cutoff=3.0, num_channels=4, lmax=1, num_layers=1)
    with pytest.raises(ValueError, match="has no charges output; polarization needs a LongRangePotential"):
        structure_polarization(local_only, atoms, reference)
