"""The one helper that turns an `AtomicGraph` into edge vectors, differentiably."""

from __future__ import annotations

import torch
from torch import Tensor

from .graph import AtomicGraph

__all__ = ["edge_vectors", "apply_strain"]


def apply_strain(positions: Tensor, cell: Tensor, batch: Tensor, strain: Tensor) -> tuple[Tensor, Tensor]:
    """Deform positions [n_atoms, 3] and cells [n_graphs, 3, 3] by ``(I + strain)``.

    ``strain`` [n_graphs, 3, 3] (usually zeros that require grad: the strain trick for
    stress); ``batch`` [n_atoms] gives each atom's graph. Returns the deformed
    ``(positions, cell)``.
    """
    deformation = torch.eye(3, dtype=strain.dtype, device=strain.device) + strain
    strained_positions = torch.einsum("ai,aij->aj", positions, deformation[batch])
    return strained_positions, torch.bmm(cell, deformation)


def edge_vectors(graph: AtomicGraph, positions: Tensor | None = None, cell: Tensor | None = None) -> Tensor:
    """[n_edges, 3] vectors (Å) from each receiver to its sender's periodic image.

    ``positions`` and ``cell`` override the graph's own (for strained copies); autograd
    reaches both.
    """
    positions = graph.positions if positions is None else positions
    cell = graph.cell if cell is None else cell
    vectors = positions.index_select(0, graph.senders) - positions.index_select(0, graph.receivers)
    if cell.shape[0] == 1:  # not graph.n_graphs: int() would fix the size in a symbolic trace
        return vectors + graph.cell_shifts @ cell[0]
    edge_cells = cell.index_select(0, graph.batch.index_select(0, graph.receivers))
    return vectors + torch.einsum("ei,eij->ej", graph.cell_shifts, edge_cells)
