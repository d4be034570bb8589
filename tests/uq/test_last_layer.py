"""Last-layer prediction rigidity: the variance formula, its force derivative, calibration,
symmetry, model files and the calculator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule

from equipot import EquipotCalculator, EquivariantPotential, load_potential
from equipot.data import GraphDataset, graph_from_atoms
from equipot.data.shipped import read_shipped_dataset
from equipot.models.io import load_model
from equipot.testing import assert_equivariant
from equipot.uq import (
    LastLayerUncertainty,
    UncertaintyPotential,
    fit_last_layer_uncertainty,
    save_uncertainty_model,
)
from equipot.uq.last_layer import structure_features


@pytest.fixture(scope="module")
def fitted() -> tuple[EquivariantPotential, LastLayerUncertainty, list, list]:
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=6, lmax=1, num_layers=2,
                                 readout_hidden=6, dtype=torch.float64)
    graphs = GraphDataset(read_shipped_dataset("ethanol", index="0:30:2"), model.cutoff).graphs
    train, valid = graphs[:10], graphs[10:]
    return model, fit_last_layer_uncertainty(model, train, valid), train, valid


def test_energy_std_is_the_llpr_formula(fitted) -> None:
    model, estimator, train, _ = fitted
    graph = train[0]
    _, summed = structure_features(model, graph)
    expected = estimator.alpha_energy * torch.sqrt(summed[0] @ estimator.covariance_inverse @ summed[0])
    got = UncertaintyPotential(model, estimator)(graph, outputs={"energy", "energy_std"}).extra["energy_std"]
    assert torch.allclose(got, expected.reshape(1), rtol=1e-12)
    assert estimator.width == 6 + 6  # num_channels * (num_layers - 1) + readout_hidden


def test_forces_std_matches_finite_differences_of_the_features(fitted) -> None:
    model, estimator, train, _ = fitted
    graph = train[1]
    step, n_atoms, width = 1e-5, graph.n_atoms, estimator.width
    jacobian = torch.zeros(n_atoms, 3, width, dtype=torch.float64)
    with torch.no_grad():
        for atom in range(n_atoms):
            for axis in range(3):
                shifted = []
                for sign in (1, -1):
                    positions = graph.positions.clone()
                    positions[atom, axis] += sign * step
                    shifted.append(structure_features(model, graph, positions)[1][0])
                jacobian[atom, axis] = (shifted[0] - shifted[1]) / (2 * step)
    variance = torch.einsum("nak,kl,nal->n", jacobian, estimator.covariance_inverse, jacobian)
    expected = estimator.alpha_forces * variance.sqrt()
    got = UncertaintyPotential(model, estimator)(graph, outputs={"energy", "forces_std"}).extra["forces_std"]
    assert torch.allclose(got, expected, rtol=1e-6)


def test_alpha_makes_the_mean_normalized_squared_error_one_on_validation(fitted) -> None:
    model, estimator, _, valid = fitted
    potential = UncertaintyPotential(model, estimator)
    ratios_e, ratios_f = [], []
    for graph in valid:
        out = potential(graph, outputs={"energy", "forces", "energy_std", "forces_std"})
        ratios_e.append(((out.energy - graph.graph_targets["energy"]) / out.extra["energy_std"]).square())
        error = (out.forces - graph.atom_targets["forces"]).square().sum(-1)
        ratios_f.append(error / out.extra["forces_std"].square())
    assert float(torch.cat(ratios_e).mean()) == pytest.approx(1.0, rel=1e-6)
    assert float(torch.cat(ratios_f).mean()) == pytest.approx(1.0, rel=1e-6)
    assert estimator.calibration.startswith("validation (5 structures)")


def test_energies_and_forces_are_those_of_the_model(fitted) -> None:
    model, estimator, train, _ = fitted
    graph = train[2]
    plain = model(graph, outputs={"energy", "forces"})
    wrapped = UncertaintyPotential(model, estimator)(graph, outputs={"energy", "forces", "forces_std"})
    assert torch.allclose(wrapped.energy, plain.energy, rtol=1e-12)
    assert torch.allclose(wrapped.forces, plain.forces, rtol=1e-10, atol=1e-12)


def test_uncertainties_are_invariant(fitted) -> None:
    model, estimator, _, _ = fitted
    assert_equivariant(UncertaintyPotential(model, estimator), molecule("CH3CH2OH"),
                       outputs=("energy", "forces", "energy_std", "forces_std"))
    float32 = UncertaintyPotential(model, estimator).converted(torch.float32)
    assert_equivariant(float32, molecule("CH3CH2OH"), outputs=("energy_std", "forces_std"))


def test_a_model_file_brings_the_estimator_back_and_the_calculator_exposes_it(fitted, tmp_path) -> None:
    model, estimator, _, _ = fitted
    path = save_uncertainty_model(UncertaintyPotential(model, estimator), tmp_path / "model_uq.pt")
    loaded = load_potential(path)
    assert isinstance(loaded, UncertaintyPotential)
    assert torch.equal(loaded.last_layer.covariance_inverse, estimator.covariance_inverse)
    assert isinstance(load_model(path), EquivariantPotential)  # the plain loader still reads it
    atoms = molecule("CH3CH2OH")
    atoms.calc = EquipotCalculator.from_file(path)
    atoms.get_forces()
    graph = graph_from_atoms(atoms, model.cutoff)
    expected = UncertaintyPotential(model, estimator)(graph, outputs={"energy_std", "forces_std"})
    assert atoms.calc.results["energy_std"] == pytest.approx(float(expected.extra["energy_std"][0]), rel=1e-10)
    assert "forces_std" not in atoms.calc.results  # costly: declared on_request, computed only when asked
    forces_std = atoms.calc.get_property("forces_std", atoms)
    np.testing.assert_allclose(forces_std, expected.extra["forces_std"].detach().numpy(), rtol=1e-6)


def test_a_mismatched_estimator_is_refused_with_a_clear_message(fitted) -> None:
    model, _, _, _ = fitted
    with pytest.raises(ValueError, match="K=3 features but the model has 12; fit it on this model"):
        UncertaintyPotential(model, LastLayerUncertainty(torch.eye(3, dtype=torch.float64)))
    with pytest.raises(ValueError, match="needs a last_layer estimator, descriptors, or both"):
        UncertaintyPotential(model)
    with pytest.raises(ValueError, match="force_rank must be between 1 and K=3"):
        LastLayerUncertainty(torch.eye(3), force_rank=4)
