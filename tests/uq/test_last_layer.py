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
from equipot.models.io import ModelFileError, load_model, model_payload
from equipot.testing import assert_equivariant
from equipot.uq import (
    LastLayerUncertainty,
    UncertaintyPotential,
    fit_last_layer_uncertainty,
    save_uncertainty_model,
)
from equipot.uq.features import model_features
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


def test_forces_std_exact_matches_finite_differences_of_the_features(fitted) -> None:
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
    expected = estimator.alpha_forces_exact * variance.sqrt()
    got = UncertaintyPotential(model, estimator)(graph, outputs={"energy", "forces_std_exact"}).extra["forces_std_exact"]
    assert torch.allclose(got, expected, rtol=1e-6)


def test_forces_std_is_the_atom_level_last_layer_variance(fitted) -> None:
    model, estimator, train, _ = fitted
    atom_gram = sum((lambda phi: phi.T @ phi)(model_features(model, g, g.positions, g.cell).last_layer.detach()) for g in train)
    inverse = torch.linalg.inv(atom_gram + estimator.atom_regularization * torch.eye(estimator.width, dtype=torch.float64))
    assert torch.allclose(estimator.atom_covariance_inverse, inverse, rtol=1e-8)
    assert estimator.atom_regularization > 0
    graph = train[3]
    phi = model_features(model, graph, graph.positions, graph.cell).last_layer.detach()
    expected = estimator.alpha_forces * torch.einsum("nk,kl,nl->n", phi, inverse, phi).sqrt()
    got = UncertaintyPotential(model, estimator).eval()(graph, outputs={"energy", "forces_std"}).extra["forces_std"]
    assert torch.allclose(got, expected, rtol=1e-8)
    assert float(estimator.alpha_forces) != float(estimator.alpha_forces_exact)  # each calibrated on its own


def test_alpha_makes_the_mean_normalized_squared_error_one_on_validation(fitted) -> None:
    model, estimator, _, valid = fitted
    potential = UncertaintyPotential(model, estimator)
    ratios_e, ratios_f, ratios_fx = [], [], []
    for graph in valid:
        out = potential(graph, outputs={"energy", "forces", "energy_std", "forces_std", "forces_std_exact"})
        ratios_e.append(((out.energy - graph.graph_targets["energy"]) / out.extra["energy_std"]).square())
        error = (out.forces - graph.atom_targets["forces"]).square().sum(-1)
        ratios_f.append(error / out.extra["forces_std"].square())
        ratios_fx.append(error / out.extra["forces_std_exact"].square())
    assert float(torch.cat(ratios_e).mean()) == pytest.approx(1.0, rel=1e-6)
    assert float(torch.cat(ratios_f).mean()) == pytest.approx(1.0, rel=1e-6)
    assert float(torch.cat(ratios_fx).mean()) == pytest.approx(1.0, rel=1e-6)
    assert estimator.calibration.startswith("validation (5 structures)")


def test_energies_and_forces_are_those_of_the_model(fitted) -> None:
    model, estimator, train, _ = fitted
    graph = train[2]
    plain = model(graph, outputs={"energy", "forces"})
    wrapped = UncertaintyPotential(model, estimator)(graph, outputs={"energy", "forces", "forces_std", "forces_std_exact"})
    assert torch.allclose(wrapped.energy, plain.energy, rtol=1e-12)
    assert torch.allclose(wrapped.forces, plain.forces, rtol=1e-10, atol=1e-12)


def test_uncertainties_are_invariant(fitted) -> None:
    model, estimator, _, _ = fitted
    # rotations, reflections, translations and permutations (assert_equivariant), both precisions
    names = ("energy", "forces", "energy_std", "forces_std", "forces_std_exact")
    assert_equivariant(UncertaintyPotential(model, estimator), molecule("CH3CH2OH"), outputs=names)
    float32 = UncertaintyPotential(model, estimator).converted(torch.float32)
    assert_equivariant(float32, molecule("CH3CH2OH"), outputs=("energy_std", "forces_std", "forces_std_exact"))


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
    expected = UncertaintyPotential(model, estimator)(graph, outputs={"energy_std", "forces_std", "forces_std_exact"})
    assert atoms.calc.results["energy_std"] == pytest.approx(float(expected.extra["energy_std"][0]), rel=1e-10)
    np.testing.assert_allclose(atoms.calc.results["forces_std"], expected.extra["forces_std"].detach().numpy(), rtol=1e-10)
    assert "forces_std_exact" not in atoms.calc.results  # costly: declared on_request, computed only when asked
    exact = atoms.calc.get_property("forces_std_exact", atoms)
    np.testing.assert_allclose(exact, expected.extra["forces_std_exact"].detach().numpy(), rtol=1e-6)


def test_a_mismatched_estimator_is_refused_with_a_clear_message(fitted) -> None:
    model, _, _, _ = fitted
    with pytest.raises(ValueError, match="K=3 features but the model has 12; fit it on this model"):
        UncertaintyPotential(model, LastLayerUncertainty(torch.eye(3, dtype=torch.float64)))
    with pytest.raises(ValueError, match="needs a last_layer estimator, descriptors, or both"):
        UncertaintyPotential(model)
    with pytest.raises(ValueError, match="force_rank must be between 1 and K=3"):
        LastLayerUncertainty(torch.eye(3), force_rank=4)


def test_a_model_file_fitted_before_the_local_force_estimate_is_refused(fitted, tmp_path) -> None:
    model, estimator, _, _ = fitted
    payload = model_payload(model)
    old = {key: value for key, value in estimator.state().items() if not key.startswith("atom_") and key != "alpha_forces_exact"}
    payload["uncertainty"] = {"format_version": 1, "last_layer": old}
    torch.save(payload, tmp_path / "old_uq.pt")
    with pytest.raises(ModelFileError, match="old_uq.pt: .*fitted before the local forces_std.*equipot uncertainty fit"):
        load_potential(tmp_path / "old_uq.pt")


def test_an_md_monitor_on_forces_std_stops_a_squeezed_molecule_and_not_a_training_one(fitted, tmp_path) -> None:
    from equipot.simulate import EnsembleSettings, ExtrapolationError, UncertaintyMonitor, run_md

    model, estimator, train, _ = fitted
    # A nearly unregularized A and alpha_F = 1: forces_std^2 is then the leverage
    # phi^T (Phi^T Phi)^-1 phi, below 1 for every training atom (a diagonal element of a hat
    # matrix), so a threshold of 1 cannot flag the training frame the run starts from.
    atom_gram = sum((lambda phi: phi.T @ phi)(model_features(model, g, g.positions, g.cell).last_layer.detach()) for g in train)
    inverse = torch.linalg.inv(atom_gram + 1e-6 * atom_gram.diagonal().mean() * torch.eye(estimator.width, dtype=torch.float64))
    leverage = LastLayerUncertainty.from_state({**estimator.state(), "atom_covariance_inverse": inverse, "alpha_forces": 1.0})
    calculator = EquipotCalculator(UncertaintyPotential(model, leverage).eval())
    settings = EnsembleSettings(timestep_fs=0.5, temperature_K=300.0)
    calm = read_shipped_dataset("ethanol", index=0)  # train[0]
    calm.calc = calculator
    monitor = UncertaintyMonitor(calm, max_uncertainty=1.0, on_extrapolation="stop", frames_file=tmp_path / "calm.xyz")
    run_md(calm, calculator, settings, steps=3, progress=False, monitor=monitor)
    assert monitor.flagged_steps == [] and 0 < monitor.summary()["max_seen"]["forces_std"] < 1.0
    squeezed = read_shipped_dataset("ethanol", index=0)
    squeezed.positions *= 0.8  # environments the training set never saw
    squeezed.calc = calculator
    monitor = UncertaintyMonitor(squeezed, max_uncertainty=1.0, on_extrapolation="stop", frames_file=tmp_path / "hot.xyz")
    with pytest.raises(ExtrapolationError, match="extrapolates at step 0: forces_std .* above --max-uncertainty 1"):
        run_md(squeezed, calculator, settings, steps=3, progress=False, monitor=monitor)
    assert (tmp_path / "hot.xyz").exists()
