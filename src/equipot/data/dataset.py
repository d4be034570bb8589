"""`GraphDataset`: labelled structures turned into `AtomicGraph`s once, up front."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from torch.utils.data import Dataset

from ..progress import progress_enabled
from .atoms import LabelKeys, graph_from_atoms
from .batching import batch_graphs
from .graph import AtomicGraph
from .neighbors import NeighborList
from .readers import read_structures

__all__ = ["GraphDataset", "holdout_size"]

PROGRESS_THRESHOLD = 200  # structures; fewer are built without a progress bar


def holdout_size(n_structures: int, fraction: float | None, count: int | None) -> int:
    """Structures a split of ``n_structures`` holds out: ``count`` if given, else
    ``fraction`` of them, rounded, at least one (the rule of `GraphDataset.split`)."""
    if count is not None:
        return count
    assert fraction is not None
    return max(1, round(fraction * n_structures))


class GraphDataset(Dataset[AtomicGraph]):
    """One-structure `AtomicGraph`s with neighbor lists and targets precomputed.

    ``structures`` are converted with :func:`equipot.data.graph_from_atoms` (one shared
    `NeighborList` of radius ``cutoff`` Å); ``keys`` says where labels are read (default
    `LabelKeys()`: ``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³), and every target in
    ``require`` must be present. Errors name each structure as ``"structure 12 of
    train.xyz"`` (``source`` is the file name, or None). Floating-point tensors get ``dtype``.

    Use ``DataLoader(dataset, batch_size=..., collate_fn=GraphDataset.collate)``.

    >>> from ase.build import bulk
    >>> dataset = GraphDataset([bulk("Cu", cubic=True)], cutoff=3.0)
    >>> len(dataset), dataset[0].n_atoms
    (1, 4)
    """

    collate = staticmethod(batch_graphs)

    def __init__(
        self,
        structures: Sequence[Atoms],
        cutoff: float,
        keys: LabelKeys | None = None,
        require: Sequence[str] = (),
        dtype: torch.dtype = torch.float64,
        source: str | None = None,
    ):
        if len(structures) == 0:
            origin = f" from {source}" if source else ""
            raise ValueError(
                f"GraphDataset{origin}: no structures given; pass at least one ase.Atoms "
                "(check the file, index and select query)"
            )
        keys = keys or LabelKeys()
        neighbor_list = NeighborList(cutoff)
        suffix = f" of {source}" if source else ""
        names = [f"structure {number}{suffix}" for number in range(len(structures))]
        graphs = [
            graph_from_atoms(
                atoms, cutoff, keys=keys, require=tuple(require), dtype=dtype, name=name,
                neighbor_list=neighbor_list,
            )
            for atoms, name in _progress(zip(structures, names), len(structures), source)
        ]
        self._set(graphs, names, float(cutoff), source)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        cutoff: float,
        keys: LabelKeys | None = None,
        require: Sequence[str] = (),
        dtype: torch.dtype = torch.float64,
        index: str | int | slice = ":",
        select: str | None = None,
    ) -> GraphDataset:
        """Read ``path`` with :func:`equipot.data.read_structures` and build the graphs."""
        structures = read_structures(path, index=index, keys=keys, require=require, select=select)
        return cls(structures, cutoff, keys=keys, require=require, dtype=dtype, source=Path(path).name)

    @classmethod
    def concatenate(cls, datasets: Sequence[GraphDataset]) -> GraphDataset:
        """One dataset holding the structures of ``datasets`` in order (equal cutoffs);
        names keep their file (``"structure 3 of b.xyz"``)."""
        if not datasets:
            raise ValueError("concatenate: no datasets given")
        cutoffs = {dataset.cutoff for dataset in datasets}
        if len(cutoffs) > 1:
            raise ValueError(f"concatenate: datasets built with different cutoffs {sorted(cutoffs)} Å")
        graphs = [graph for dataset in datasets for graph in dataset.graphs]
        names = [name for dataset in datasets for name in dataset.names]
        sources = [dataset.source for dataset in datasets if dataset.source]
        return cls._from_graphs(graphs, names, cutoffs.pop(), "+".join(sources) or None)

    @classmethod
    def _from_graphs(
        cls, graphs: list[AtomicGraph], names: list[str], cutoff: float, source: str | None
    ) -> GraphDataset:
        dataset = cls.__new__(cls)
        dataset._set(graphs, names, cutoff, source)
        return dataset

    def _set(self, graphs: list[AtomicGraph], names: list[str], cutoff: float, source: str | None) -> None:
        self.graphs = graphs
        self.names = names  # e.g. "structure 12 of train.xyz", kept through split
        self.cutoff = cutoff
        self.source = source

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> AtomicGraph:
        return self.graphs[index]

    def __repr__(self) -> str:
        origin = f", source={self.source!r}" if self.source else ""
        return f"GraphDataset(n_structures={len(self)}, cutoff={self.cutoff}{origin})"

    def split(
        self, valid_fraction: float | None = None, n_valid: int | None = None, seed: int = 0
    ) -> tuple[GraphDataset, GraphDataset]:
        """Shuffle with ``seed`` and split into ``(train, valid)``; deterministic.

        Give exactly one of ``valid_fraction`` (in (0, 1); rounded, at least one
        structure) or ``n_valid``. Both parts must be non-empty.
        """
        if (valid_fraction is None) == (n_valid is None):
            raise ValueError("split: give exactly one of valid_fraction or n_valid")
        if valid_fraction is not None and not 0 < valid_fraction < 1:
            raise ValueError(f"split: valid_fraction must lie in (0, 1), got {valid_fraction}")
        n_valid = holdout_size(len(self), valid_fraction, n_valid)
        if not 0 < n_valid < len(self):
            raise ValueError(
                f"split: {n_valid} validation structures out of {len(self)} leaves a part "
                "empty; use more data or a smaller validation set"
            )
        order = np.random.default_rng(seed).permutation(len(self))
        return self._subset(np.sort(order[n_valid:])), self._subset(np.sort(order[:n_valid]))

    def bootstrap_resample(self, seed: int) -> GraphDataset:
        """As many structures as this dataset, drawn with replacement with ``seed``
        (deterministic; a structure may appear several times, under its own name)."""
        return self._subset(np.sort(np.random.default_rng(seed).integers(0, len(self), size=len(self))))

    def _subset(self, indices: Iterable[int]) -> GraphDataset:
        chosen = [int(i) for i in indices]
        return GraphDataset._from_graphs(
            [self.graphs[i] for i in chosen], [self.names[i] for i in chosen], self.cutoff, self.source
        )


def _progress(items: Iterable, total: int, source: str | None) -> Iterable:
    """``items``, under a transient rich progress bar when ``total`` is large and stdout a TTY."""
    if total <= PROGRESS_THRESHOLD:
        return items
    from rich.console import Console
    from rich.progress import track

    console = Console()
    return track(
        items, total=total, description=f"neighbor lists ({source or 'structures'})",
        transient=True, disable=not (console.is_terminal and progress_enabled()), console=console,
    )
