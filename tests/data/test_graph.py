"""`AtomicGraph` validation, batching and splitting, dtype changes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.data import (
    AtomicGraph,
    GraphValidationError,
    LabelKeys,
    batch_graphs,
    edge_vectors,
    graph_from_atoms,
    split_graph,
)

CUTOFF = 3.0


def _labelled(atoms: Atoms, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms.calc = SinglePointCalculator(
        atoms, energy=float(rng.normal()), forces=rng.normal(size=(len(atoms), 3)), stress=rng.normal(size=6)
    )
    atoms.info["dipole"] = rng.normal(size=3)
    return atoms


@pytest.fixture
def graphs() -> list[AtomicGraph]:
    structures = [
        bulk("Cu", "fcc", a=3.6) * (2, 1, 1),
        molecule("CH4"),
        bulk("Si", "diamond", a=5.43),
        Atoms("Ar", positions=[[0.0, 0.0, 0.0]]),  # isolated atom: no edges
    ]
    keys = LabelKeys(graph_extra={"dipole": "dipole"})
    return [graph_from_atoms(_labelled(atoms, n), CUTOFF, keys=keys) for n, atoms in enumerate(structures)]


def _edge_set(graph: AtomicGraph) -> set[tuple[int, int, tuple[float, ...]]]:
    return set(
        zip(graph.receivers.tolist(), graph.senders.tolist(), map(tuple, graph.cell_shifts.tolist()))
    )


@pytest.mark.parametrize(
    "field, bad",
    [
        ("positions", lambda g: g.positions[:, :2]),
        ("atomic_numbers", lambda g: g.atomic_numbers[:-1]),
        ("cell", lambda g: g.cell[:, :2]),
        ("pbc", lambda g: g.pbc[:, :2]),
        ("receivers", lambda g: g.receivers[:-1]),
        ("cell_shifts", lambda g: g.cell_shifts[:, :2]),
        ("batch", lambda g: g.batch[:-1]),
        ("total_charge", lambda g: torch.zeros(2, dtype=g.dtype)),
    ],
)
def test_wrong_shapes_name_the_field(graphs, field, bad):
    graph = graphs[0]
    with pytest.raises(GraphValidationError, match=rf"AtomicGraph\.{field} must have shape"):
        replace(graph, **{field: bad(graph)})


def test_wrong_dtypes_and_indices_are_named(graphs):
    graph = graphs[0]
    with pytest.raises(GraphValidationError, match=r"AtomicGraph\.senders must be int64"):
        replace(graph, senders=graph.senders.int())
    with pytest.raises(GraphValidationError, match=r"AtomicGraph\.positions must be floating point"):
        replace(graph, positions=graph.positions.long())
    with pytest.raises(GraphValidationError, match=r"edge indices point outside \[0, n_atoms\)"):
        replace(graph, senders=graph.senders + graph.n_atoms)
    with pytest.raises(GraphValidationError, match=r"AtomicGraph\.batch points outside"):
        replace(graph, batch=graph.batch + 1)


def test_wrong_target_shapes_name_the_target(graphs):
    graph = graphs[0]
    with pytest.raises(GraphValidationError, match=r"graph target 'energy' .* n_graphs=1"):
        replace(graph, graph_targets={"energy": torch.zeros(2, dtype=graph.dtype)})
    with pytest.raises(GraphValidationError, match=r"atom target 'forces' .* n_atoms=2"):
        replace(graph, atom_targets={"forces": torch.zeros(5, 3, dtype=graph.dtype)})


def test_batch_then_split_round_trips_exactly(graphs):
    batch = batch_graphs(graphs)
    assert batch.n_graphs == len(graphs)
    assert batch.n_atoms == sum(g.n_atoms for g in graphs)
    assert batch.n_edges == sum(g.n_edges for g in graphs)
    assert batch.edges_per_graph.tolist() == [g.n_edges for g in graphs]
    assert set(batch.graph_targets) == {"energy", "stress", "dipole"}
    assert batch.graph_targets["stress"].shape == (len(graphs), 3, 3)
    torch.testing.assert_close(
        edge_vectors(batch), torch.cat([edge_vectors(g) for g in graphs]), rtol=0, atol=0
    )
    parts = split_graph(batch)
    assert len(parts) == len(graphs)
    for part, original in zip(parts, graphs):
        for name in ("positions", "atomic_numbers", "cell", "pbc", "batch", "total_charge"):
            assert torch.equal(getattr(part, name), getattr(original, name)), name
        assert _edge_set(part) == _edge_set(original)
        assert part.graph_targets.keys() == original.graph_targets.keys()
        for name, value in original.graph_targets.items():
            assert torch.equal(part.graph_targets[name], value), name
        for name, value in original.atom_targets.items():
            assert torch.equal(part.atom_targets[name], value), name


def test_batching_drops_targets_missing_in_some_graphs(graphs):
    unlabelled = graph_from_atoms(molecule("H2O"), CUTOFF)
    batch = batch_graphs([graphs[0], unlabelled])
    assert batch.graph_targets == {} and batch.atom_targets == {}


def test_batching_refuses_mixed_cutoffs_and_empty_lists(graphs):
    other = graph_from_atoms(molecule("H2O"), CUTOFF + 1.0)
    with pytest.raises(GraphValidationError, match="different cutoffs"):
        batch_graphs([graphs[0], other])
    with pytest.raises(GraphValidationError, match="empty list"):
        batch_graphs([])


def test_to_dtype_casts_floats_only(graphs):
    graph = batch_graphs(graphs)
    single = graph.to(dtype=torch.float32)
    assert single.dtype == torch.float32
    for name in ("positions", "cell", "cell_shifts", "total_charge"):
        assert getattr(single, name).dtype == torch.float32, name
    assert all(value.dtype == torch.float32 for value in single.graph_targets.values())
    assert all(value.dtype == torch.float32 for value in single.atom_targets.values())
    for name in ("atomic_numbers", "senders", "receivers", "batch"):
        assert getattr(single, name).dtype == torch.long, name
    assert single.pbc.dtype == torch.bool
    assert graph.dtype == torch.float64, "to() returns a copy"
    torch.testing.assert_close(single.positions.double(), graph.positions, rtol=1e-6, atol=1e-6)
    assert single.to(dtype=torch.float64).to("cpu").dtype == torch.float64


def test_targets_do_not_alias_the_atoms():
    atoms = _labelled(molecule("H2O"), seed=9)
    graph = graph_from_atoms(atoms, CUTOFF, keys=LabelKeys())
    before = graph.atom_targets["forces"].clone()
    atoms.calc.results["forces"][:] = 0.0
    assert torch.equal(graph.atom_targets["forces"], before)
