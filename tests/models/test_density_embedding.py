"""The embedded-density readout (`model.density_embedding`, `equipot.nn.DensityReadout`):
its densities against a direct sum over neighbors, the zero start that lets a fine-tune
add it, the fitted normalization, model files, and config errors. Equivariance and
derivatives: `TestDensityEmbeddingPotential` in test_potential_suite.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list
from pydantic import ValidationError

from equipot import EquivariantPotential, load_model, save_model
from equipot.config import DensityEmbeddingConfig, ModelConfig
from equipot.data import graph_from_atoms
from equipot.testing import evaluate
from equipot.train.initialization import with_density_embedding

SMALL = {"cutoff": 3.5, "num_channels": 4, "lmax": 1, "num_layers": 1, "correlation": 2}


def _envelope(r: np.ndarray, cutoff: float, p: int = 6) -> np.ndarray:
    x = r / cutoff
    return 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)


def _brass() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.numbers[[1, 2]] = 30  # Zn
    atoms.rattle(0.1, seed=3)
    return atoms


def test_densities_are_sums_over_neighbors_and_images() -> None:
    model = EquivariantPotential(species=["Cu", "Zn"], density_embedding={"decay_rates": [1.5, 3.0]}, dtype=torch.float64, **SMALL)
    with torch.no_grad():
        model.density_readout.amplitudes.copy_(torch.tensor([[0.7, 1.3], [1.1, 0.4]], dtype=torch.float64))
    atoms = _brass()
    graph = graph_from_atoms(atoms, model.cutoff)
    densities = model.density_readout.densities(model.species_of(graph), model.edge_context(graph, graph.positions, graph.cell))

    i, j, r = neighbor_list("ijd", atoms, model.cutoff)
    amplitude = np.where(atoms.numbers[j, None] == 29, [[0.7, 1.3]], [[1.1, 0.4]])
    expected = np.zeros((len(atoms), 2))
    np.add.at(expected, i, amplitude * np.exp(-np.outer(r, [1.5, 3.0])) * _envelope(r, model.cutoff)[:, None])
    assert len(r) > 4 * len(atoms)  # periodic images included
    np.testing.assert_allclose(densities.detach().numpy(), expected, rtol=1e-12)


def test_the_readout_starts_at_zero_so_a_trained_model_keeps_its_energies() -> None:
    torch.manual_seed(0)
    base = EquivariantPotential(species=["Cu", "Zn"], dtype=torch.float64, **SMALL)
    base.set_normalization(scale=0.8, shift=-0.2, avg_num_neighbors=12.0)
    graphs = [graph_from_atoms(_brass(), base.cutoff)]
    widened = with_density_embedding(base, DensityEmbeddingConfig(), graphs)
    assert widened.config.density_embedding is not None and base.config.density_embedding is None
    atoms = _brass()
    before, after = evaluate(base, atoms, ("energy", "forces")), evaluate(widened, atoms, ("energy", "forces"))
    assert after["energy"] == pytest.approx(before["energy"], abs=1e-12)
    np.testing.assert_allclose(after["forces"], before["forces"], atol=1e-12)
    # ... and the new output layer gets a gradient from the first step
    widened.train()
    energy = widened(graph_from_atoms(atoms, widened.cutoff), outputs={"energy"}).energy.sum()
    (gradient,) = torch.autograd.grad(energy, widened.density_readout.out_weight)
    assert float(gradient.abs().max()) > 0


def test_normalization_is_fitted_on_the_training_structures() -> None:
    model = EquivariantPotential(species=["Cu", "Zn"], density_embedding={}, dtype=torch.float64, **SMALL)
    frames = []
    for seed in range(4):
        atoms = _brass()
        atoms.set_cell(atoms.cell * (1 + 0.02 * seed), scale_atoms=True)
        atoms.rattle(0.05, seed=seed)
        frames.append(atoms)
    graphs = [graph_from_atoms(atoms, model.cutoff) for atoms in frames]
    model.fit_density_normalization(graphs)
    readout = model.density_readout
    raw = torch.cat([readout.densities(model.species_of(g), model.edge_context(g, g.positions, g.cell)) for g in graphs])
    normalized = (raw - readout.density_mean) / readout.density_scale
    np.testing.assert_allclose(normalized.mean(0).detach().numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(normalized.std(0).detach().numpy(), 1.0, rtol=1e-12)
    assert sorted(readout.decay_rates.tolist()) == [1.0, 2.0, 3.0, 4.0]  # the default rates


def test_a_model_file_keeps_the_readout_and_its_normalization(tmp_path) -> None:
    torch.manual_seed(1)
    model = EquivariantPotential(species=["H", "C", "O"], density_embedding={"decay_rates": [2.0], "hidden": 4}, **SMALL)
    with torch.no_grad():
        model.density_readout.out_weight.normal_()
    model.fit_density_normalization([graph_from_atoms(molecule("CH3CH2OH"), model.cutoff)])
    loaded = load_model(save_model(model, tmp_path / "model.pt"))
    assert loaded.config.density_embedding == model.config.density_embedding
    for name in ("density_mean", "density_scale", "out_weight", "amplitudes"):
        assert torch.equal(getattr(loaded.density_readout, name), getattr(model.density_readout, name))
    atoms = molecule("CH3CH2OH")
    assert evaluate(loaded, atoms, ("energy",))["energy"] == evaluate(model, atoms, ("energy",))["energy"]
    # and in float64, through converted()
    as_double = model.converted(torch.float64)
    assert evaluate(as_double, atoms, ("energy",))["energy"] == pytest.approx(evaluate(model, atoms, ("energy",))["energy"], rel=1e-6)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"decay_rates": [1.0, -2.0]}, "decay_rates must be one or more positive, finite rates"),
        ({"decay_rates": []}, "decay_rates must be one or more positive, finite rates"),
        ({"hidden": 0}, "greater than or equal to 1"),
        ({"decay_rate": [1.0]}, "decay_rates"),  # misspelled: the strict config suggests the key
    ],
)
def test_bad_density_embedding_sections_are_refused(section, message) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelConfig(species=["Cu"], density_embedding=section)
