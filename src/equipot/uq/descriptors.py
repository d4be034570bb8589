"""Descriptor-space distances: how far an atom's environment is from the training set.

The descriptors are the even-scalar (``0e``) channels of the final node features
(`equipot.uq.features`), [n_atoms, C], invariant by construction. From the training set
the model stores:

- a **reference set** of training-atom descriptors (all of them, or a uniformly random
  subsample of ``max_reference`` atoms, default 20 000); the nearest-neighbour
  Euclidean distance of an atom to it is computed with ``torch.cdist`` in chunks of
  ``chunk_size`` query atoms (exact brute force: at C <= 128 and 20 000 references this
  is a matrix product per chunk, faster than a KD-tree in that dimension);
- per element, the **mean and inverse covariance** of the training descriptors, for the
  Mahalanobis distance ``sqrt((x - mu_Z)^T Sigma_Z^-1 (x - mu_Z))`` (``Sigma_Z`` gets a
  ridge of 1e-6 times its mean diagonal so that it inverts);
- **thresholds**: the ``percentile`` (default 99th) of the training atoms' leave-one-out
  nearest-neighbour distances (distance to the nearest *other* reference atom) and of
  their Mahalanobis distances.

A structure is flagged ``extrapolating`` (1.0) when its largest nearest-neighbour
distance exceeds the stored nearest-neighbour threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..data import AtomicGraph, batch_graphs
from ..models import EquivariantPotential
from .features import model_features

__all__ = ["DescriptorDistances", "fit_descriptor_distances", "nearest_distances"]


def nearest_distances(queries: Tensor, reference: Tensor, chunk_size: int = 4096, exclude_self: bool = False) -> Tensor:
    """[n_queries] Euclidean distance of each row of ``queries`` [n, C] to its nearest row
    of ``reference`` [m, C], by ``torch.cdist`` over chunks of queries. ``exclude_self``:
    ``queries`` is ``reference`` and each row's own zero distance is skipped (leave-one-out)."""
    if reference.shape[0] == 0:
        raise ValueError("the reference set of descriptors is empty")
    result = []
    for start in range(0, queries.shape[0], chunk_size):
        distances = torch.cdist(queries[start : start + chunk_size], reference)
        if exclude_self:
            rows = torch.arange(distances.shape[0], device=distances.device)
            distances[rows, rows + start] = torch.inf
        result.append(distances.min(dim=1).values)
    return torch.cat(result)


class DescriptorDistances(nn.Module):
    """Stored training statistics and the distances computed from them (module docstring).

    Buffers: ``reference`` [n_ref, C], ``species_mean`` [n_species, C],
    ``species_precision`` [n_species, C, C], ``nearest_threshold`` and
    ``mahalanobis_threshold`` (scalars)."""

    def __init__(
        self,
        reference: Tensor,
        species_mean: Tensor,
        species_precision: Tensor,
        nearest_threshold: float,
        mahalanobis_threshold: float,
        percentile: float = 99.0,
        chunk_size: int = 4096,
    ):
        super().__init__()
        self.register_buffer("reference", reference.clone())
        self.register_buffer("species_mean", species_mean.clone())
        self.register_buffer("species_precision", species_precision.clone())
        self.register_buffer("nearest_threshold", torch.tensor(float(nearest_threshold), dtype=reference.dtype))
        self.register_buffer("mahalanobis_threshold", torch.tensor(float(mahalanobis_threshold), dtype=reference.dtype))
        self.percentile = float(percentile)
        self.chunk_size = int(chunk_size)

    def nearest(self, descriptors: Tensor) -> Tensor:
        """[n_atoms] distance to the nearest training environment."""
        return nearest_distances(descriptors, self.reference, self.chunk_size)

    def mahalanobis(self, descriptors: Tensor, species: Tensor) -> Tensor:
        """[n_atoms] Mahalanobis distance to the training atoms of the same element."""
        centred = descriptors - self.species_mean.index_select(0, species)
        precision = self.species_precision.index_select(0, species)
        # bmm, not einsum: einsum's path planning costs more than the product for one molecule
        return (torch.bmm(precision, centred.unsqueeze(-1)).squeeze(-1) * centred).sum(-1).clamp(min=0).sqrt()

    def converted(self, dtype: torch.dtype) -> DescriptorDistances:
        return DescriptorDistances.from_state(
            {k: v.to(dtype) if isinstance(v, Tensor) else v for k, v in self.state().items()}
        )

    def state(self) -> dict[str, object]:
        """Plain data (tensors and numbers) for the model file."""
        return {
            "reference": self.reference.detach().cpu(),
            "species_mean": self.species_mean.detach().cpu(),
            "species_precision": self.species_precision.detach().cpu(),
            "nearest_threshold": float(self.nearest_threshold),
            "mahalanobis_threshold": float(self.mahalanobis_threshold),
            "percentile": self.percentile,
            "chunk_size": self.chunk_size,
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> DescriptorDistances:
        return cls(**state)  # type: ignore[arg-type]


def _training_descriptors(model: EquivariantPotential, graphs: Sequence[AtomicGraph], batch_size: int) -> tuple[Tensor, Tensor]:
    descriptors, species = [], []
    with torch.no_grad():
        for start in range(0, len(graphs), batch_size):
            graph = batch_graphs(list(graphs[start : start + batch_size])).to(device=model.device, dtype=model.dtype)
            descriptors.append(model_features(model, graph, graph.positions, graph.cell, first_order_only=True).descriptors)
            species.append(model.species_of(graph))
    return torch.cat(descriptors).double(), torch.cat(species)


def fit_descriptor_distances(
    model: EquivariantPotential,
    train: Sequence[AtomicGraph],
    max_reference: int = 20_000,
    percentile: float = 99.0,
    seed: int = 0,
    batch_size: int = 16,
) -> DescriptorDistances:
    """Training statistics of ``model``'s descriptors over ``train`` (one pass): the
    reference set (random subsample of at most ``max_reference`` atoms, ``seed``), per-
    element means and inverse covariances, and the ``percentile`` thresholds."""
    if len(train) == 0:
        raise ValueError("fit_descriptor_distances needs training structures, got none")
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    descriptors, species = _training_descriptors(model.eval(), train, batch_size)
    if descriptors.shape[0] < 2:
        raise ValueError("fit_descriptor_distances needs at least two training atoms")
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(descriptors.shape[0], generator=generator)[:max_reference].sort().values
    reference = descriptors[keep.to(descriptors.device)]
    width = descriptors.shape[1]
    num_species = len(model.species)
    mean = torch.zeros(num_species, width, dtype=torch.float64, device=descriptors.device)
    precision = torch.zeros(num_species, width, width, dtype=torch.float64, device=descriptors.device)
    for index in range(num_species):
        rows = descriptors[species == index]
        if rows.shape[0] == 0:  # an element absent from the training set: every atom of it is far
            precision[index] = torch.eye(width, dtype=torch.float64) / 1e-12
            continue
        mean[index] = rows.mean(0)
        centred = rows - mean[index]
        covariance = centred.T @ centred / max(rows.shape[0] - 1, 1)
        ridge = 1e-6 * float(covariance.diagonal().mean().clamp(min=1e-12))
        precision[index] = torch.linalg.inv(covariance + ridge * torch.eye(width, dtype=torch.float64, device=rows.device))
    estimator = DescriptorDistances(reference, mean, precision, 0.0, 0.0, percentile)
    leave_one_out = nearest_distances(reference, reference, estimator.chunk_size, exclude_self=True)
    mahalanobis = estimator.mahalanobis(descriptors, species)
    estimator.nearest_threshold.fill_(float(torch.quantile(leave_one_out, percentile / 100.0)))
    estimator.mahalanobis_threshold.fill_(float(torch.quantile(mahalanobis, percentile / 100.0)))
    return estimator.to(dtype=model.dtype)
