"""The model compares the cutoff a graph was built with against its own: a smaller one is
refused (the graph lacks neighbors), a larger one gives the same numbers (the envelope
zeroes the extra edges exactly)."""

from __future__ import annotations

import pytest
import torch
from ase.build import bulk, molecule

from equipot import EquivariantPotential
from equipot.data import GraphValidationError, graph_from_atoms


@pytest.fixture(scope="module")
def model() -> EquivariantPotential:
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O", "Cu"], cutoff=3.0, num_channels=4, lmax=1, hidden_lmax=1,
                                 num_layers=1, correlation=1, dtype=torch.float64)
    model.set_normalization(scale=10.0)
    return model.eval()


def test_a_graph_built_with_a_smaller_cutoff_is_refused(model) -> None:
    graph = graph_from_atoms(molecule("CH3CH2OH"), cutoff=2.0)
    message = (r"graph built with cutoff 2 Å but the model needs 3 Å; "
               r"rebuild it with graph_from_atoms\(atoms, cutoff=model.cutoff\)")
    with pytest.raises(GraphValidationError, match=message):
        model(graph, outputs={"energy"})
    with pytest.raises(GraphValidationError, match=message):
        model(graph, outputs={"energy", "forces"}, create_graph=True)


@pytest.mark.parametrize("atoms", [molecule("CH3CH2OH"), bulk("Cu", "fcc", a=3.6) * (2, 1, 1)], ids=["ethanol", "cu"])
def test_a_graph_built_with_a_larger_cutoff_gives_the_same_outputs(model, atoms) -> None:
    exact = graph_from_atoms(atoms, cutoff=model.cutoff)
    wider = graph_from_atoms(atoms, cutoff=5.0)
    assert wider.n_edges > exact.n_edges  # the extra edges exist, and must not count
    outputs = {"energy", "forces"} | ({"stress"} if atoms.pbc.all() else set())
    reference, result = model(exact, outputs=outputs), model(wider, outputs=outputs)
    torch.testing.assert_close(result.energy, reference.energy, rtol=0, atol=1e-12)
    torch.testing.assert_close(result.forces, reference.forces, rtol=0, atol=1e-12)
    if "stress" in outputs:
        torch.testing.assert_close(result.stress, reference.stress, rtol=0, atol=1e-12)


def test_the_calculator_builds_graphs_with_the_model_cutoff(model) -> None:
    from equipot import EquipotCalculator

    atoms = molecule("CH3CH2OH")
    atoms.calc = EquipotCalculator(model)
    expected = model(graph_from_atoms(atoms, cutoff=model.cutoff), outputs={"energy"}).energy
    assert atoms.get_potential_energy() == pytest.approx(float(expected.detach()), abs=1e-10)
