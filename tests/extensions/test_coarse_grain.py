"""Coarse-graining: the centre-of-mass mapping and its forces (periodic molecules made
whole, rotation and translation covariance, total force kept), the all-atom reference
against finite differences, a bead potential with placeholder species (equivariance, finite
differences, a force-matching step that lowers the loss), bad input, and the data script."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

from equipot import EquipotCalculator, EquivariantPotential
from equipot.data.atoms import graph_from_atoms
from equipot.extensions.coarse_grain import (
    BeadMapping,
    DiatomicFluidCalculator,
    bead_symbols,
    diatomic_fluid,
    force_matching_loss,
)
from equipot.testing import assert_equivariant, assert_forces_match_finite_differences
from equipot.testing.transforms import random_rotation

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fluid() -> Atoms:
    atoms = diatomic_fluid(2, 0.02, seed=1)  # 8 molecules
    atoms.rattle(0.05, seed=2)
    return atoms


def test_bead_positions_are_centres_of_mass_even_across_the_boundary() -> None:
    atoms = Atoms("CO", positions=[[0.2, 1.0, 1.0], [9.5, 1.0, 1.0]], cell=np.eye(3) * 10.0, pbc=True)
    mapping = BeadMapping([[0, 1]])
    masses = atoms.get_masses()
    # the molecule is whole across x = 0: C at 0.2, O at -0.5
    expected = (masses[0] * 0.2 + masses[1] * -0.5) / masses.sum()
    beads = mapping.bead_atoms(atoms)
    assert beads.get_positions()[0, 0] == pytest.approx(expected % 10.0, abs=1e-12)
    assert beads.get_masses()[0] == pytest.approx(masses.sum())
    assert beads.get_chemical_symbols() == ["H"]


def test_mapping_rotates_with_the_atoms_and_keeps_the_total_force(fluid) -> None:
    mapping = BeadMapping.molecules(len(fluid) // 2, [[0, 1]])
    rotation = random_rotation(np.random.default_rng(0))
    positions, masses = fluid.get_positions(), fluid.get_masses()
    beads = mapping.positions(positions, masses)
    moved = mapping.positions(positions @ rotation.T + [1.0, 2.0, 3.0], masses)
    np.testing.assert_allclose(moved, beads @ rotation.T + [1.0, 2.0, 3.0], atol=1e-12)
    forces = np.random.default_rng(1).normal(size=positions.shape)
    np.testing.assert_allclose(mapping.forces(forces).sum(0), forces.sum(0), atol=1e-12)
    np.testing.assert_allclose(mapping.forces(forces @ rotation.T), mapping.forces(forces) @ rotation.T, atol=1e-12)


def test_all_atom_reference_forces_match_finite_differences(fluid) -> None:
    atoms = fluid.copy()
    atoms.calc = DiatomicFluidCalculator()
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (10, 2)]:
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            moved.calc = DiatomicFluidCalculator()
            energies.append(moved.get_potential_energy())
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-7)
    np.testing.assert_allclose(forces.sum(0), 0.0, atol=1e-10)


@pytest.fixture(scope="module")
def bead_model() -> EquivariantPotential:
    torch.manual_seed(0)
    return EquivariantPotential(species=bead_symbols(2), cutoff=5.0, num_channels=4, lmax=1, num_layers=1,
                                dtype=torch.float64)


def test_a_bead_potential_with_placeholder_species_is_equivariant_and_conservative(fluid, bead_model) -> None:
    mapping = BeadMapping.molecules(len(fluid) // 2, [[0, 1]], [0])
    beads = mapping.bead_atoms(fluid)
    beads.numbers[::2] = 2  # two bead types: H and He placeholders
    assert bead_symbols(2) == ["H", "He"]
    assert_equivariant(bead_model, beads, outputs=("energy", "forces"))
    assert_forces_match_finite_differences(bead_model, beads)
    beads.calc = EquipotCalculator(bead_model)
    assert np.isfinite(beads.get_forces()).all()


def test_a_step_down_the_force_matching_gradient_lowers_the_loss(fluid) -> None:
    atoms = fluid.copy()
    atoms.calc = DiatomicFluidCalculator()
    mapping = BeadMapping.molecules(len(atoms) // 2, [[0, 1]])
    target = torch.from_numpy(mapping.forces(atoms.get_forces()))
    torch.manual_seed(1)
    model = EquivariantPotential(species=bead_symbols(1), cutoff=5.0, num_channels=4, lmax=1, num_layers=1,
                                 dtype=torch.float64)
    graph = graph_from_atoms(mapping.bead_atoms(atoms), model.cutoff)
    loss = force_matching_loss(model, graph, target)
    assert float(loss.detach()) == pytest.approx(float((model(graph).forces.detach() - target).pow(2).mean()))
    loss.backward()
    gradient_norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None))
    assert float(gradient_norm) > 0
    with torch.no_grad():  # a small step down the gradient lowers the loss: it is differentiable in the weights
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= 1e-3 * parameter.grad / gradient_norm
    assert float(force_matching_loss(model, graph, target).detach()) < float(loss.detach())


def test_bad_input_gets_a_clear_message() -> None:
    with pytest.raises(ValueError, match="groups must be non-empty and cover the atoms 0 .. n_atoms - 1 exactly once"):
        BeadMapping([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="bead_types has 1 entries for 2 groups"):
        BeadMapping([[0], [1]], [0])
    with pytest.raises(ValueError, match=r"positions must be \[2, 3\] for this mapping; got \(3, 3\)"):
        BeadMapping([[0, 1]]).positions(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"forces must be \[2, 3\] for this mapping"):
        BeadMapping([[0, 1]]).forces(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n_types must be at least 1, got 0"):
        bead_symbols(0)


def test_the_data_script_maps_the_all_atom_frames(tmp_path, monkeypatch) -> None:
    output = tmp_path / "cg.npz"
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["generate_cg_fluid.py", "--frames", "2", "--interval", "2", "--equilibration", "5",
                                      "--per-side", "2", "--output", str(output)])
    runpy.run_path(str(ROOT / "scripts" / "generate_cg_fluid.py"), run_name="__main__")
    data = np.load(output)
    assert data["bead_positions"].shape == (2, 8, 3) and data["atom_forces"].shape == (2, 16, 3)
    mapping = BeadMapping.molecules(8, [[0, 1]])
    np.testing.assert_allclose(data["bead_forces"][1], mapping.forces(data["atom_forces"][1]), atol=1e-12)
    assert (tmp_path / "cg.json").exists()
