"""Descriptor distances: nearest neighbours, Mahalanobis, thresholds, symmetry, the
extrapolation flag, and an MD run that a monitor stops."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase.build import molecule

from equipot import EquipotCalculator, EquivariantPotential
from equipot.data import GraphDataset, graph_from_atoms
from equipot.data.shipped import read_shipped_dataset
from equipot.simulate import EnsembleSettings, ExtrapolationError, UncertaintyMonitor, run_md
from equipot.testing import assert_equivariant
from equipot.uq import UncertaintyPotential, fit_descriptor_distances, nearest_distances
from equipot.uq.features import model_features


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=6, lmax=1, num_layers=1,
                                 readout_hidden=4, dtype=torch.float64)
    # as training would: sums normalized by the mean neighbor count (8 in ethanol within 4 Å);
    # at the default 1 the untrained features grow as powers of 8 through the products
    model.set_normalization(avg_num_neighbors=8.0)
    train = GraphDataset(read_shipped_dataset("ethanol", index="0:40:2"), model.cutoff).graphs
    return model, fit_descriptor_distances(model, train, percentile=99.0), train


def test_nearest_distances_match_brute_force_in_chunks() -> None:
    generator = torch.Generator().manual_seed(1)
    queries, reference = torch.randn(37, 5, generator=generator), torch.randn(50, 5, generator=generator)
    expected = np.linalg.norm(queries.numpy()[:, None] - reference.numpy()[None], axis=-1).min(1)
    assert np.allclose(nearest_distances(queries, reference, chunk_size=8).numpy(), expected, atol=1e-6)
    full = np.linalg.norm(reference.numpy()[:, None] - reference.numpy()[None], axis=-1)
    np.fill_diagonal(full, np.inf)
    loo = nearest_distances(reference, reference, chunk_size=7, exclude_self=True)
    assert np.allclose(loo.numpy(), full.min(1), atol=1e-6)


def test_training_atoms_sit_on_the_reference_set_and_thresholds_are_percentiles(fitted) -> None:
    model, distances, train = fitted
    potential = UncertaintyPotential(model, descriptors=distances)
    out = potential(train[0], outputs={"energy", "descriptor_distance", "extrapolating", "mahalanobis_distance"})
    assert float(out.extra["descriptor_distance"].max()) < 1e-6  # fewer than 20 000 atoms: all kept
    assert float(out.extra["extrapolating"][0]) == 0.0
    descriptors = model_features(model, train[0], train[0].positions, train[0].cell).descriptors.detach()
    species = model.species_of(train[0])
    for atom in range(3):
        centred = (descriptors[atom] - distances.species_mean[species[atom]]).numpy()
        expected = np.sqrt(centred @ distances.species_precision[species[atom]].numpy() @ centred)
        assert float(out.extra["mahalanobis_distance"][atom]) == pytest.approx(expected, rel=1e-8)
    assert distances.reference.shape[0] == 20 * 9
    loo = nearest_distances(distances.reference, distances.reference, exclude_self=True)
    assert float(distances.nearest_threshold) == pytest.approx(float(torch.quantile(loo, 0.99)))


def test_a_distorted_structure_is_flagged_and_the_maxima_are_per_structure(fitted) -> None:
    model, distances, train = fitted
    atoms = read_shipped_dataset("ethanol", index=1)
    atoms.positions *= 0.8  # squeezed: environments the training set never saw
    potential = UncertaintyPotential(model, descriptors=distances)
    graph = graph_from_atoms(atoms, model.cutoff)
    out = potential(graph, outputs={"energy", "descriptor_distance", "max_descriptor_distance", "extrapolating"})
    assert float(out.extra["extrapolating"][0]) == 1.0
    assert float(out.extra["max_descriptor_distance"][0]) == pytest.approx(float(out.extra["descriptor_distance"].max()))


def test_distances_are_invariant(fitted) -> None:
    model, distances, _ = fitted
    names = ("descriptor_distance", "mahalanobis_distance", "max_descriptor_distance", "max_mahalanobis_distance",
             "extrapolating")
    assert_equivariant(UncertaintyPotential(model, descriptors=distances), molecule("CH3CH2OH"), outputs=names)


def test_a_monitor_stops_md_from_a_distorted_structure_and_not_from_a_training_one(fitted, tmp_path) -> None:
    model, distances, _ = fitted
    calculator = EquipotCalculator(UncertaintyPotential(model, descriptors=distances))
    settings = EnsembleSettings(timestep_fs=0.5, temperature_K=300.0)
    calm = read_shipped_dataset("ethanol", index=0)
    calm.calc = calculator
    monitor = UncertaintyMonitor(calm, on_extrapolation="stop", frames_file=tmp_path / "calm.xyz")
    run_md(calm, calculator, settings, steps=3, progress=False, monitor=monitor)
    assert monitor.flagged_steps == [] and not (tmp_path / "calm.xyz").exists()
    assert monitor.summary()["max_seen"]["max_descriptor_distance"] < float(distances.nearest_threshold)

    hot = read_shipped_dataset("ethanol", index=0)
    hot.positions *= 0.8
    hot.calc = calculator
    monitor = UncertaintyMonitor(hot, on_extrapolation="stop", frames_file=tmp_path / "hot.xyz")
    with pytest.raises(ExtrapolationError, match=r"extrapolates at step 0: max descriptor distance .* frame written to"):
        run_md(hot, calculator, settings, steps=3, progress=False, monitor=monitor)
    assert (tmp_path / "hot.xyz").exists() and monitor.flagged_steps == [0]

    hot.calc = calculator
    warner = UncertaintyMonitor(hot, on_extrapolation="warn", frames_file=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warner()
    assert any("extrapolates" in str(w.message) for w in caught)


def test_a_monitor_needs_a_model_with_uncertainty(fitted) -> None:
    model, _, _ = fitted
    atoms = molecule("CH3CH2OH")
    atoms.calc = EquipotCalculator(model)
    with pytest.raises(ValueError, match="the model gives no uncertainty.*equipot uncertainty fit"):
        UncertaintyMonitor(atoms)
    with pytest.raises(ValueError, match="on_extrapolation must be 'warn' or 'stop'"):
        UncertaintyMonitor(atoms, on_extrapolation="halt")
