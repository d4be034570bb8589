"""Batching many one-structure graphs into one `AtomicGraph`, and splitting back."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .graph import AtomicGraph, GraphValidationError

__all__ = ["batch_graphs", "split_graph"]


def _cat_targets(graphs: Sequence[AtomicGraph], attribute: str) -> dict[str, Tensor]:
    names = set(getattr(graphs[0], attribute))
    for graph in graphs[1:]:
        names &= set(getattr(graph, attribute))
    # a target present in only some structures cannot be batched: it is dropped, and the
    # loss sees it as absent (the training data layer reports such mixtures up front)
    return {name: torch.cat([getattr(g, attribute)[name] for g in graphs]) for name in sorted(names)}


def batch_graphs(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Concatenate graphs into one batch; node indices of edges are offset accordingly."""
    if len(graphs) == 0:
        raise GraphValidationError("cannot batch an empty list of graphs")
    if len(graphs) == 1:
        return graphs[0]
    cutoffs = {g.cutoff for g in graphs}
    if len(cutoffs) != 1:
        raise GraphValidationError(f"graphs built with different cutoffs cannot be batched: {cutoffs}")
    atom_offsets = torch.cumsum(torch.tensor([0] + [g.n_atoms for g in graphs[:-1]]), 0)
    graph_offsets = torch.cumsum(torch.tensor([0] + [g.n_graphs for g in graphs[:-1]]), 0)
    return AtomicGraph(
        positions=torch.cat([g.positions for g in graphs]),
        atomic_numbers=torch.cat([g.atomic_numbers for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        senders=torch.cat([g.senders + int(o) for g, o in zip(graphs, atom_offsets)]),
        receivers=torch.cat([g.receivers + int(o) for g, o in zip(graphs, atom_offsets)]),
        cell_shifts=torch.cat([g.cell_shifts for g in graphs]),
        batch=torch.cat([g.batch + int(o) for g, o in zip(graphs, graph_offsets)]),
        cutoff=cutoffs.pop(),
        total_charge=torch.cat([g.total_charge for g in graphs]),  # type: ignore[misc]
        graph_targets=_cat_targets(graphs, "graph_targets"),
        atom_targets=_cat_targets(graphs, "atom_targets"),
    )


def split_graph(graph: AtomicGraph) -> list[AtomicGraph]:
    """Undo `batch_graphs`: one `AtomicGraph` per structure, edges re-indexed from zero."""
    atom_counts = graph.atoms_per_graph.tolist()
    atom_starts = [0]
    for count in atom_counts[:-1]:
        atom_starts.append(atom_starts[-1] + count)
    edge_graph = graph.batch[graph.receivers]
    parts = []
    for index, (start, count) in enumerate(zip(atom_starts, atom_counts)):
        edges = edge_graph == index
        parts.append(
            AtomicGraph(
                positions=graph.positions[start : start + count],
                atomic_numbers=graph.atomic_numbers[start : start + count],
                cell=graph.cell[index : index + 1],
                pbc=graph.pbc[index : index + 1],
                senders=graph.senders[edges] - start,
                receivers=graph.receivers[edges] - start,
                cell_shifts=graph.cell_shifts[edges],
                batch=torch.zeros(count, dtype=torch.long, device=graph.device),
                cutoff=graph.cutoff,
                total_charge=graph.total_charge[index : index + 1],  # type: ignore[index]
                graph_targets={k: v[index : index + 1] for k, v in graph.graph_targets.items()},
                atom_targets={k: v[start : start + count] for k, v in graph.atom_targets.items()},
            )
        )
    return parts
