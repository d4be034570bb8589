"""`AtomicGraph`: the one data object that travels between data, model, training and
calculators.

A graph holds one or many structures (a batch). Edges are directed: information flows
from ``senders`` to ``receivers``, and the edge vector (Å) is

    r_edge = positions[senders] - positions[receivers] + cell_shifts @ cell[batch[receivers]]

computed by :func:`equipot.data.edge_vectors`, the single helper for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor

__all__ = ["AtomicGraph", "GraphValidationError"]


class GraphValidationError(ValueError):
    """An `AtomicGraph` was built from inconsistent or unphysical data."""


@dataclass
class AtomicGraph:
    """A batch of atomic structures with their neighbor lists.

    Shapes (``n_atoms``, ``n_edges``, ``n_graphs`` summed over the batch):

    - ``positions`` [n_atoms, 3], Å
    - ``atomic_numbers`` [n_atoms], int64 (Z; the model maps them to its species indices)
    - ``cell`` [n_graphs, 3, 3], Å, rows are lattice vectors (zeros for molecules)
    - ``pbc`` [n_graphs, 3], bool
    - ``senders``, ``receivers`` [n_edges], int64 atom indices into the batch
    - ``cell_shifts`` [n_edges, 3], integer lattice shifts stored in the positions' dtype
    - ``batch`` [n_atoms], int64 index of each atom's graph
    - ``cutoff``: the radius (Å) the edges were built with
    - ``graph_targets``: labels per structure, leading dimension n_graphs
      (``energy`` [n_graphs] eV, ``stress`` [n_graphs, 3, 3] eV/Å³, ...)
    - ``atom_targets``: labels per atom, leading dimension n_atoms (``forces`` [n_atoms, 3] eV/Å)
    - ``total_charge`` [n_graphs] in e (zeros unless given)
    """

    positions: Tensor
    atomic_numbers: Tensor
    cell: Tensor
    pbc: Tensor
    senders: Tensor
    receivers: Tensor
    cell_shifts: Tensor
    batch: Tensor
    cutoff: float
    total_charge: Tensor | None = None
    graph_targets: dict[str, Tensor] = field(default_factory=dict)
    atom_targets: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.total_charge is None:
            self.total_charge = torch.zeros(
                self.cell.shape[0], dtype=self.positions.dtype, device=self.positions.device
            )
        self.validate()

    # ------------------------------------------------------------------ sizes
    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.senders.shape[0])

    @property
    def n_graphs(self) -> int:
        return int(self.cell.shape[0])

    @property
    def atoms_per_graph(self) -> Tensor:
        """[n_graphs] number of atoms of each structure."""
        return torch.bincount(self.batch, minlength=self.n_graphs)

    @property
    def edges_per_graph(self) -> Tensor:
        """[n_graphs] number of edges whose receiver lies in each structure."""
        return torch.bincount(self.batch[self.receivers], minlength=self.n_graphs)

    # ------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check shapes, dtypes and index ranges; raise `GraphValidationError` naming the field."""

        def expect(name: str, tensor: Tensor, shape: tuple[int | None, ...]) -> None:
            if tensor.dim() != len(shape) or any(
                want is not None and got != want for got, want in zip(tensor.shape, shape)
            ):
                pretty = tuple("*" if s is None else s for s in shape)
                raise GraphValidationError(
                    f"AtomicGraph.{name} must have shape {pretty}, got {tuple(tensor.shape)}"
                )

        n_atoms, n_graphs = self.positions.shape[0], self.cell.shape[0]
        expect("positions", self.positions, (None, 3))
        expect("atomic_numbers", self.atomic_numbers, (n_atoms,))
        expect("cell", self.cell, (None, 3, 3))
        expect("pbc", self.pbc, (n_graphs, 3))
        expect("senders", self.senders, (None,))
        expect("receivers", self.receivers, (self.senders.shape[0],))
        expect("cell_shifts", self.cell_shifts, (self.senders.shape[0], 3))
        expect("batch", self.batch, (n_atoms,))
        assert self.total_charge is not None
        expect("total_charge", self.total_charge, (n_graphs,))
        if not self.positions.is_floating_point():
            raise GraphValidationError("AtomicGraph.positions must be floating point")
        for name in ("atomic_numbers", "senders", "receivers", "batch"):
            if getattr(self, name).dtype != torch.long:
                raise GraphValidationError(f"AtomicGraph.{name} must be int64 (torch.long)")
        if self.n_edges and (
            int(self.senders.min()) < 0
            or int(self.receivers.min()) < 0
            or int(self.senders.max()) >= n_atoms
            or int(self.receivers.max()) >= n_atoms
        ):
            raise GraphValidationError("AtomicGraph edge indices point outside [0, n_atoms)")
        if n_atoms and (int(self.batch.min()) < 0 or int(self.batch.max()) >= n_graphs):
            raise GraphValidationError("AtomicGraph.batch points outside [0, n_graphs)")
        for name, value in self.graph_targets.items():
            if value.shape[0] != n_graphs:
                raise GraphValidationError(
                    f"graph target {name!r} must have leading dimension n_graphs={n_graphs}, "
                    f"got shape {tuple(value.shape)}"
                )
        for name, value in self.atom_targets.items():
            if value.shape[0] != n_atoms:
                raise GraphValidationError(
                    f"atom target {name!r} must have leading dimension n_atoms={n_atoms}, "
                    f"got shape {tuple(value.shape)}"
                )

    # ------------------------------------------------------- device and dtype
    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> AtomicGraph:
        """Move to ``device``; cast floating-point tensors (positions, cell, shifts, targets) to ``dtype``."""

        def move(tensor: Tensor) -> Tensor:
            if dtype is not None and tensor.is_floating_point():
                return tensor.to(device=device, dtype=dtype)
            return tensor.to(device=device)

        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                changes[f.name] = move(value)
            elif isinstance(value, dict):
                changes[f.name] = {key: move(tensor) for key, tensor in value.items()}
        return replace(self, **changes)

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def device(self) -> torch.device:
        return self.positions.device
