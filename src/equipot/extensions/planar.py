"""A small SO(2)-equivariant model of 2-D point sets, and the planar task it is shown on.

Each point has a position ``[2]`` and a species (0 or 1, charge +1 or -1). The model
embeds the species into the invariant ``m = 0`` mode, runs `SO2Convolution` + `SO2Linear`
+ `SO2NormGate` layers over the edges within ``cutoff`` (with residual connections), and
reads out per set an invariant scalar (sum of a linear map of the ``m = 0`` modes) and a
2-D vector (sum of a complex linear map of the ``m = 1`` modes, ``x + i y``).

The task (`sample_point_sets`): ``n_points`` points in a randomly stretched and rotated
Gaussian blob, half of each charge; the targets are the squared radius of gyration
``Rg^2 = mean |x_i - x_mean|^2`` (invariant) and the dipole ``mu = sum_i q_i x_i``
(rotates with the set; independent of the origin as the set is neutral).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from equipot.nn.so2 import SO2Convolution, SO2Linear, SO2NormGate


@dataclass
class PointSets:
    """A batch of 2-D point sets: ``positions`` [n_points, 2], ``species`` [n_points]
    (0/1), ``batch`` [n_points] (set index), and the targets ``rg2`` [n_sets] and
    ``dipole`` [n_sets, 2] (length units of the positions)."""

    positions: Tensor
    species: Tensor
    batch: Tensor
    rg2: Tensor
    dipole: Tensor

    @property
    def n_sets(self) -> int:
        return int(self.rg2.shape[0])

    def subset(self, start: int, stop: int) -> PointSets:
        """Sets ``start .. stop - 1`` (renumbered from 0)."""
        mask = (self.batch >= start) & (self.batch < stop)
        return PointSets(self.positions[mask], self.species[mask], self.batch[mask] - start,
                         self.rg2[start:stop], self.dipole[start:stop])


def point_set_targets(positions: Tensor, species: Tensor, batch: Tensor, n_sets: int) -> tuple[Tensor, Tensor]:
    """``Rg^2`` [n_sets] and the dipole ``sum q_i x_i`` [n_sets, 2] (q = +1 for species 0,
    -1 for species 1)."""
    counts = torch.zeros(n_sets, dtype=positions.dtype).index_add(0, batch, torch.ones_like(positions[:, 0]))
    centres = torch.zeros(n_sets, 2, dtype=positions.dtype).index_add(0, batch, positions) / counts[:, None]
    rg2 = torch.zeros(n_sets, dtype=positions.dtype).index_add(
        0, batch, (positions - centres[batch]).pow(2).sum(-1)) / counts
    charges = 1.0 - 2.0 * species.to(positions.dtype)
    dipole = torch.zeros(n_sets, 2, dtype=positions.dtype).index_add(0, batch, charges[:, None] * positions)
    return rg2, dipole


def sample_point_sets(n_sets: int, n_points: int = 10, seed: int = 0, dtype: torch.dtype = torch.float64) -> PointSets:
    """``n_sets`` neutral sets of ``n_points`` (even) points: a Gaussian blob with random
    axis lengths (0.5-1.5) and orientation, around a random centre; charges +1 and -1
    shuffled."""
    if n_points < 2 or n_points % 2:
        raise ValueError(f"n_points must be an even number >= 2 (the sets are neutral), got {n_points}")
    generator = torch.Generator().manual_seed(seed)
    axes = 0.5 + torch.rand(n_sets, 1, 2, generator=generator, dtype=dtype)
    angle = 2 * torch.pi * torch.rand(n_sets, generator=generator, dtype=dtype)
    rotation = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2)
    local = torch.randn(n_sets, n_points, 2, generator=generator, dtype=dtype) * axes
    centre = 3 * torch.randn(n_sets, 1, 2, generator=generator, dtype=dtype)
    positions = (torch.einsum("sab,spb->spa", rotation, local) + centre).reshape(-1, 2)
    order = torch.argsort(torch.rand(n_sets, n_points, generator=generator), dim=-1)
    species = (order < n_points // 2).long().reshape(-1)
    batch = torch.arange(n_sets).repeat_interleave(n_points)
    rg2, dipole = point_set_targets(positions, species, batch, n_sets)
    return PointSets(positions, species, batch, rg2, dipole)


def planar_edges(positions: Tensor, batch: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    """``senders``, ``receivers`` [n_edges] of all ordered pairs of distinct points of one
    set closer than ``cutoff`` (dense per batch: for small sets)."""
    same = batch[:, None] == batch[None, :]
    close = torch.cdist(positions, positions) < cutoff
    pairs = same & close & ~torch.eye(len(batch), dtype=torch.bool, device=batch.device)
    receivers, senders = pairs.nonzero(as_tuple=True)
    return senders, receivers


class PlanarPointSetModel(nn.Module):
    """SO(2)-equivariant message passing over 2-D point sets.

    ``forward(positions [n, 2], species [n], batch [n], n_sets)`` returns
    ``(invariant [n_sets], vector [n_sets, 2])``; the invariant does not change and the
    vector rotates with the set under any rotation of a set's points.
    """

    def __init__(self, num_species: int = 2, channels: int = 8, mmax: int = 2, num_layers: int = 2,
                 cutoff: float = 8.0, num_basis: int = 8, avg_neighbors: float = 9.0,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if mmax < 1:
            raise ValueError(f"mmax must be at least 1 (the vector output is the m = 1 mode), got {mmax}")
        self.cutoff, self.mmax, self.channels = float(cutoff), int(mmax), int(channels)
        self.embedding = nn.Embedding(num_species, channels)
        self.convolutions = nn.ModuleList(
            SO2Convolution(channels, mmax, cutoff, num_basis, avg_neighbors=avg_neighbors) for _ in range(num_layers)
        )
        self.linears = nn.ModuleList(SO2Linear(channels, channels, mmax) for _ in range(num_layers))
        self.gates = nn.ModuleList(SO2NormGate(channels, mmax) for _ in range(num_layers))
        self.scalar_readout = nn.Linear(channels, 1)
        self.vector_readout = SO2Linear(channels, 1, 1, bias=False)
        self.to(dtype)

    def forward(self, positions: Tensor, species: Tensor, batch: Tensor, n_sets: int,
                edges: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """``edges``: (senders, receivers) from `planar_edges` with this model's cutoff, if
        already built (they depend on the positions only)."""
        if positions.ndim != 2 or positions.shape[1] != 2:
            raise ValueError(f"positions must be [n_points, 2] (points in a plane), got {tuple(positions.shape)}")
        senders, receivers = planar_edges(positions, batch, self.cutoff) if edges is None else edges
        vectors = positions[senders] - positions[receivers]
        scalars = self.embedding(species)
        complex_dtype = torch.complex128 if scalars.dtype == torch.float64 else torch.complex64
        features = torch.zeros(len(species), self.channels, self.mmax + 1, dtype=complex_dtype)
        features = torch.cat([scalars[..., None].to(complex_dtype), features[..., 1:]], dim=-1)
        for convolution, linear, gate in zip(self.convolutions, self.linears, self.gates):
            features = features + gate(linear(convolution(features, vectors, senders, receivers)))
        per_point = self.scalar_readout(features[..., 0].real).squeeze(-1)
        invariant = torch.zeros(n_sets, dtype=per_point.dtype).index_add(0, batch, per_point)
        dipoles = self.vector_readout(features[..., :2])[:, 0, 1]  # the m = 1 mode, x + i y
        vector = torch.zeros(n_sets, dtype=dipoles.dtype).index_add(0, batch, dipoles)
        return invariant, torch.view_as_real(vector)
