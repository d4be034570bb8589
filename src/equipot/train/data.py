"""Training data: reading and splitting the sets a config names, checking their labels,
and batching them so that a run is reproducible and resumable.

The order of the training structures in epoch ``e`` is a pure function of
``(seed, e)`` (`EpochSampler`), so an interrupted run resumed from a checkpoint sees the
same batches as an uninterrupted one. Each global batch of ``batch_size`` structures is
split evenly over the processes of a distributed run (`ShardedBatchSampler`): one process
with batch size B takes the same optimizer steps as P processes with B/P each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ..config.train import DataSection, TrainConfig
from ..data import AtomicGraph, GraphDataset, LabelKeys, batch_graphs
from ..data.dataset import holdout_size
from ..data.shipped import resolve_data_path
from .errors import TrainingDataError
from .losses import HESSIAN_PRODUCTS, HESSIAN_PROBES

__all__ = [
    "EpochSampler",
    "GraphBatch",
    "GraphDataModule",
    "ResumableLoader",
    "ShardedBatchSampler",
    "TrainingData",
    "check_labels",
    "load_training_data",
    "prepare_hessian_labels",
    "resolve_data_path",
    "training_split_size",
]


@dataclass
class TrainingData:
    """The datasets of a run: ``train`` and ``valid``, and ``test`` if any."""

    train: GraphDataset
    valid: GraphDataset
    test: GraphDataset | None = None

    def atomic_numbers(self) -> list[int]:
        """Sorted atomic numbers present in any of the sets."""
        sets = [self.train, self.valid] + ([self.test] if self.test is not None else [])
        found: set[int] = set()
        for dataset in sets:
            for graph in dataset.graphs:
                found.update(graph.atomic_numbers.unique().tolist())
        return sorted(found)


def load_training_data(config: TrainConfig, cutoff: float, per_atom_targets: frozenset[str] = frozenset()) -> TrainingData:
    """Read the files of ``config.data``, build graphs with ``cutoff`` (Å), split, and check
    that every label the loss needs is present (`check_labels`).

    The labels of ``config.loss.targets`` are read too (under their keys), per atom for the
    names in ``per_atom_targets`` (heads with ``per_atom: true``), else per structure.
    """
    data = config.data
    targets = config.loss.target_keys()
    keys = LabelKeys(
        energy=data.keys.energy,
        forces=data.keys.forces,
        stress=data.keys.stress,
        graph_extra={name: key for name, key in targets.items() if name not in per_atom_targets},
        atom_extra={name: key for name, key in targets.items() if name in per_atom_targets}
        | (
            {HESSIAN_PROBES: data.keys.hessian_probes, HESSIAN_PRODUCTS: data.keys.hessian_products}
            if config.loss.hessian_weight > 0
            else {}
        ),
    )
    dtype = getattr(torch, config.dtype)
    seed = config.seed if data.split_seed is None else data.split_seed

    def read(name: str, index: str = ":") -> GraphDataset:
        dataset = GraphDataset.from_file(resolve_data_path(name), cutoff, keys=keys, dtype=dtype, index=index)
        _check_not_empty(dataset)
        if config.loss.hessian_weight > 0:
            prepare_hessian_labels(dataset)
        return dataset

    parts = [read(name, data.index) for name in data.train_files()]
    full = parts[0] if len(parts) == 1 else GraphDataset.concatenate(parts)
    test = None
    if data.test_file is not None:
        test = read(data.test_file)
    elif data.test_fraction is not None or data.n_test is not None:
        full, test = _split(full, data.test_fraction, data.n_test, seed, "test")
    if data.valid_file is not None:
        train, valid = full, read(data.valid_file)
    else:
        n_valid = data.n_valid
        train, valid = _split(full, None if n_valid else data.valid_fraction, n_valid, seed + 1, "valid")
    if data.bootstrap_seed is not None:
        train = train.bootstrap_resample(data.bootstrap_seed)
    for role, dataset in (("training", train), ("validation", valid)):
        check_labels(dataset, config, role)
    return TrainingData(train=train, valid=valid, test=test)


def training_split_size(data: DataSection, n_structures: int) -> int:
    """Structures that `load_training_data` keeps for training out of ``n_structures`` read
    from the training files: less the test hold-out (without ``data.test_file``), then the
    validation hold-out (without ``data.valid_file``), each sized by `holdout_size`."""
    n_train = n_structures
    if data.test_file is None and (data.test_fraction is not None or data.n_test is not None):
        n_train -= holdout_size(n_train, data.test_fraction, data.n_test)
    if data.valid_file is None:
        n_train -= holdout_size(n_train, None if data.n_valid else data.valid_fraction, data.n_valid)
    return n_train


def _check_not_empty(dataset: GraphDataset) -> None:
    for graph, name in zip(dataset.graphs, dataset.names, strict=False):
        if graph.n_atoms == 0:
            raise TrainingDataError(f"{name} has no atoms; remove it from the file")


def _split(
    dataset: GraphDataset, fraction: float | None, count: int | None, seed: int, part: str
) -> tuple[GraphDataset, GraphDataset]:
    try:
        return dataset.split(valid_fraction=fraction, n_valid=count, seed=seed)
    except ValueError as error:
        asked = f"n_{part}={count}" if count is not None else f"{part}_fraction={fraction}"
        raise TrainingDataError(
            f"cannot hold out data.{asked} of the {len(dataset)} structures of {dataset.source}: "
            f"{error}. Use more structures, a smaller {part} set, or a separate data.{part}_file"
        ) from error


def check_labels(dataset: GraphDataset, config: TrainConfig, role: str) -> None:
    """Raise `TrainingDataError` if a structure lacks a label whose loss weight is positive
    (before or after the loss switch)."""
    stages = [("loss", config.loss)] + ([("loss.switch", config.loss.switch)] if config.loss.switch else [])
    for section, weights in stages:
        for term in ("energy", "forces", "stress"):
            weight = getattr(weights, f"{term}_weight")
            if weight <= 0:
                continue
            missing = [
                name for graph, name in zip(dataset.graphs, dataset.names, strict=False) if not _has(graph, term)
            ]
            if missing:
                key = getattr(config.data.keys, term)
                raise TrainingDataError(
                    f"{role} data: {len(missing)} of {len(dataset)} structures have no {term} "
                    f"(looked up under key {key!r}), e.g. {missing[0]}, but {section}.{term}_weight "
                    f"is {weight}. Set {section}.{term}_weight: 0, or provide {term} in the data "
                    f"(data.keys.{term} names the key in the file)"
                )
        if section == "loss" and config.loss.hessian_weight > 0 and role == "training":
            if not any(_has(graph, HESSIAN_PROBES) for graph in dataset.graphs):
                keys = config.data.keys
                raise TrainingDataError(
                    f"training data: none of the {len(dataset)} structures has Hessian labels (per-atom arrays "
                    f"{keys.hessian_probes!r} and {keys.hessian_products!r}), but loss.hessian_weight is "
                    f"{config.loss.hessian_weight}. Set loss.hessian_weight: 0, or add them with "
                    "scripts/generate_hessian_labels.py"
                )
        for name, weight in _target_weights(config, section).items():
            if weight <= 0:
                continue
            missing = [n for graph, n in zip(dataset.graphs, dataset.names, strict=False) if not _has(graph, name)]
            if missing:
                key = config.loss.target_keys()[name]
                raise TrainingDataError(
                    f"{role} data: {len(missing)} of {len(dataset)} structures have no {name} label "
                    f"(looked up under key {key!r}), e.g. {missing[0]}, but {section} gives target {name!r} "
                    f"weight {weight}. Set its weight to 0, or give the right key (loss.targets.{name}.key)"
                )


def prepare_hessian_labels(dataset: GraphDataset) -> int:
    """Bring the Hessian labels of ``dataset`` into the layout of the loss, in place, and
    return the number K of probe columns (0 if no structure has them).

    Files store probes ``v`` and products ``H v`` as per-atom arrays [n_atoms, 3K] (column
    ``c K + k`` holds Cartesian component c of probe k); here they become [n_atoms, 3, K].
    Structures with fewer probes get zero columns, structures without labels zero probes
    and products: zero probes are no label (see `equipot.train.losses.hessian_errors`), so
    every batch concatenates atoms without dropping the labels of some structures.
    """
    shaped: list[tuple[Tensor, Tensor] | None] = []
    for graph, name in zip(dataset.graphs, dataset.names, strict=False):
        probes, products = graph.atom_targets.get(HESSIAN_PROBES), graph.atom_targets.get(HESSIAN_PRODUCTS)
        if probes is None and products is None:
            shaped.append(None)
            continue
        if probes is None or products is None or probes.shape != products.shape or probes.shape[0] != graph.n_atoms:
            shapes = [None if t is None else tuple(t.shape) for t in (probes, products)]
            raise TrainingDataError(
                f"{name}: Hessian probes and products must both be per-atom arrays of the same shape "
                f"[n_atoms={graph.n_atoms}, 3K]; got {shapes[0]} and {shapes[1]}. Write them with "
                "scripts/generate_hessian_labels.py"
            )
        if probes.dim() == 2 and probes.shape[1] % 3 != 0:
            raise TrainingDataError(
                f"{name}: Hessian probes have {probes.shape[1]} columns per atom, not a multiple of 3 (3K for K probes)"
            )
        shape = (graph.n_atoms, 3, -1)
        shaped.append((probes.reshape(shape), products.reshape(shape)))
    n_probes = max((pair[0].shape[2] for pair in shaped if pair is not None), default=0)
    if n_probes == 0:
        return 0
    for graph, pair in zip(dataset.graphs, shaped, strict=False):
        probes, products = pair or (graph.positions.new_zeros(graph.n_atoms, 3, 0),) * 2
        pad = (0, n_probes - probes.shape[2])
        graph.atom_targets[HESSIAN_PROBES] = torch.nn.functional.pad(probes, pad)
        graph.atom_targets[HESSIAN_PRODUCTS] = torch.nn.functional.pad(products, pad)
    return n_probes


def _target_weights(config: TrainConfig, section: str) -> dict[str, float]:
    """Weights of ``config.loss.targets`` before (``loss``) or after (``loss.switch``) the switch."""
    weights = {name: target.weight for name, target in config.loss.targets.items()}
    switch = config.loss.switch
    if section == "loss.switch" and switch is not None and switch.target_weights:
        weights.update(switch.target_weights)
    return weights


def _has(graph: AtomicGraph, term: str) -> bool:
    return term in graph.graph_targets or term in graph.atom_targets


# ------------------------------------------------------------------------- batching
class GraphBatch:
    """A batched `AtomicGraph` and the dataset indices of its structures (to name them)."""

    def __init__(self, graph: AtomicGraph, indices: list[int]):
        self.graph = graph
        self.indices = indices

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(self.graph.to(device=device), self.indices)


class _IndexedGraphs(Dataset):
    def __init__(self, dataset: GraphDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, AtomicGraph]:
        return index, self.dataset[index]


def _collate(items: Sequence[tuple[int, AtomicGraph]]) -> GraphBatch:
    return GraphBatch(batch_graphs([graph for _, graph in items]), [index for index, _ in items])


class EpochSampler(Sampler[int]):
    """A permutation of ``range(n)`` that depends only on ``(seed, epoch)``."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


class ShardedBatchSampler(Sampler[list[int]]):
    """Global batches of ``batch_size`` indices from ``sampler``; yields this rank's share
    (every ``world_size``-th index of each batch). A last batch smaller than
    ``world_size`` is dropped so that every process takes the same number of steps."""

    def __init__(self, sampler: EpochSampler, batch_size: int, rank: int = 0, world_size: int = 1):
        self.sampler = sampler  # Lightning finds `batch_sampler.sampler.set_epoch`
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.batches_yielded = 0  # in the current epoch
        self._skip = 0

    def skip_next(self, n_batches: int) -> None:
        """Make the next iteration start after its first ``n_batches`` batches (to resume mid-epoch)."""
        self._skip = int(n_batches)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(self.sampler)
        self.batches_yielded, skip, self._skip = 0, self._skip, 0
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            if len(chunk) < self.world_size:
                return
            self.batches_yielded += 1
            if self.batches_yielded > skip:
                yield chunk[self.rank :: self.world_size]

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full + (1 if rest >= self.world_size else 0)


class ResumableLoader(DataLoader):
    """A training `DataLoader` whose position within an epoch is saved in checkpoints
    (Lightning calls `state_dict` / `load_state_dict`), so a run resumed from a mid-epoch
    checkpoint continues with the batches that were still to come."""

    def state_dict(self) -> dict[str, int]:
        sampler = self.batch_sampler
        assert isinstance(sampler, ShardedBatchSampler)
        return {"epoch": sampler.sampler.epoch, "batches": sampler.batches_yielded}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        sampler = self.batch_sampler
        assert isinstance(sampler, ShardedBatchSampler)
        sampler.skip_next(state_dict["batches"])


class GraphDataModule(pl.LightningDataModule):
    """Training and validation loaders of a `TrainingData`, sharded over the processes."""

    def __init__(self, data: TrainingData, batch_size: int, valid_batch_size: int, seed: int):
        super().__init__()
        self.data, self.batch_size, self.valid_batch_size, self.seed = data, batch_size, valid_batch_size, seed

    def transfer_batch_to_device(self, batch: GraphBatch, device: torch.device, dataloader_idx: int) -> GraphBatch:
        return batch.to(device)

    def train_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        if self.batch_size % world:
            raise ValueError(
                f"batch_size {self.batch_size} is the global batch and must be a multiple of the "
                f"number of processes ({world}); e.g. use batch_size {world * max(1, self.batch_size // world)}"
            )
        sampler = ShardedBatchSampler(EpochSampler(len(self.data.train), self.seed), self.batch_size, rank, world)
        return ResumableLoader(_IndexedGraphs(self.data.train), batch_sampler=sampler, collate_fn=_collate)

    def val_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        if len(self.data.valid) < world:
            raise TrainingDataError(
                f"{len(self.data.valid)} validation structures for {world} processes: every process "
                "needs at least one; use a larger validation set"
            )
        mine = list(range(rank, len(self.data.valid), world))
        batches = [mine[i : i + self.valid_batch_size] for i in range(0, len(mine), self.valid_batch_size)]
        return DataLoader(_IndexedGraphs(self.data.valid), batch_sampler=batches, collate_fn=_collate)
