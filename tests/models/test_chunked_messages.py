"""The chunked message path (energy and forces without create_graph) against the plain one."""

from __future__ import annotations

import pytest
import torch
from ase.build import bulk, molecule

import equipot.nn.chunked_messages as chunked
from equipot import EquivariantPotential, graph_from_atoms
from equipot.data import batch_graphs


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 7 edges, so even a small cell is split (with a ragged last chunk)."""
    monkeypatch.setattr(chunked, "DEFAULT_EDGE_CHUNK", 7)
    monkeypatch.setattr(chunked, "CHUNK_ABOVE_EDGES", 0)


def _model(**fields: object) -> EquivariantPotential:
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O", "Cu"], cutoff=4.0, num_channels=8, dtype=torch.float64, **fields)
    model.set_normalization(avg_num_neighbors=10.0)
    return model.eval()


def _graph():
    copper = bulk("Cu", "fcc", a=3.61, cubic=True)
    copper.rattle(0.05, seed=1)
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.02, seed=2)
    return batch_graphs([graph_from_atoms(copper, 4.0), graph_from_atoms(ethanol, 4.0)])


@pytest.mark.parametrize("fields", [{}, {"correlation": 1, "hidden_lmax": 2}, {"parity": False}])
def test_chunked_path_equals_plain_path(small_chunks: None, fields: dict) -> None:
    model, graph = _model(**fields), _graph()
    assert graph.n_edges > 7
    chunked_out = model(graph, outputs={"energy", "forces", "stress"}, create_graph=False)
    plain_out = model(graph, outputs={"energy", "forces", "stress"}, create_graph=True)
    torch.testing.assert_close(chunked_out.energy, plain_out.energy.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(chunked_out.forces, plain_out.forces.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(chunked_out.stress, plain_out.stress.detach(), rtol=1e-10, atol=1e-12)


def test_parameter_gradients_through_chunked_path(small_chunks: None) -> None:
    """Training on energies alone (no create_graph) takes the chunked path: its parameter
    gradients must equal the plain path's."""
    model, graph = _model(), _graph()

    def gradients(first_order_only: bool) -> list[torch.Tensor]:
        model.zero_grad()
        energies = model.atomic_energies_of(graph, graph.positions, graph.cell, first_order_only=first_order_only)
        (energies**2).sum().backward()
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]

    for chunked_grad, plain_grad in zip(gradients(True), gradients(False)):
        torch.testing.assert_close(chunked_grad, plain_grad, rtol=1e-10, atol=1e-12)
    assert any(g.abs().sum() > 0 for g in gradients(True))


def test_forces_leave_parameter_gradients_alone(small_chunks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forces need no weight gradients: the chunked backward asks the autograd engine
    whether each weight's gradient will be used (`_wanted`) and skips those that will not
    (a third of its work). Training on energies still gets them (the test above)."""
    answers: list[bool] = []

    def recording(node: torch.autograd.graph.Node | None) -> bool:
        answers.append(original(node))
        return answers[-1]

    original = chunked._wanted
    monkeypatch.setattr(chunked, "_wanted", recording)
    model, graph = _model(), _graph()
    output = model(graph, outputs={"energy", "forces"}, create_graph=False)
    assert answers and not any(answers), answers  # asked about every weight, each skipped
    assert all(p.grad is None for p in model.parameters())
    assert not output.forces.requires_grad  # create_graph=False: no graph kept on the forces

    answers.clear()
    model.atomic_energies_of(graph, graph.positions, graph.cell, first_order_only=True).sum().backward()
    assert answers and all(answers)  # an energy loss does need them


def _saved_bytes(model: EquivariantPotential, graph, first_order_only: bool) -> int:
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    positions = graph.positions.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.atomic_energies_of(graph, positions, graph.cell, first_order_only=first_order_only).sum()
    return total


def test_chunked_path_keeps_little_per_edge(small_chunks: None) -> None:
    """What autograd keeps for the backward pass: the plain path stores the per-edge
    [n_edges, C, dim] tensors of every layer, the chunked path only its inputs."""
    model = _model()
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=3)
    graph = graph_from_atoms(atoms, 4.0)
    plain, chunked_bytes = _saved_bytes(model, graph, False), _saved_bytes(model, graph, True)
    assert chunked_bytes < plain / 3, (chunked_bytes, plain)


def test_chunked_path_is_equivariant_and_matches_finite_differences(small_chunks: None) -> None:
    """Forces and stress without create_graph (the chunked path here) obey the symmetries
    and are derivatives of the energy."""
    from equipot.testing import (
        assert_equivariant,
        assert_forces_match_finite_differences,
        assert_stress_match_finite_differences,
    )

    model = _model()
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(0.05, seed=4)
    assert graph_from_atoms(atoms, 4.0).n_edges > 7
    assert_equivariant(model, atoms, outputs=("energy", "forces", "stress"))
    assert_forces_match_finite_differences(model, atoms)
    assert_stress_match_finite_differences(model, atoms)
