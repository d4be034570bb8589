"""Equivariant message passing: neighbor features x edge harmonics, radially weighted."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .coupling import EdgeCoupling
from .layout import IrrepsLayout
from .linear import IrrepsLinear
from .scatter import scatter_sum

__all__ = ["Interaction", "RadialMLP"]


class RadialMLP(nn.Sequential):
    """``num_basis -> hidden -> hidden -> num_out`` with SiLU: [n_edges, num_basis] -> [n_edges, num_out]."""

    def __init__(self, num_basis: int, hidden: int, num_out: int):
        super().__init__(
            nn.Linear(num_basis, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, num_out),
        )


class Interaction(nn.Module):
    """One round of messages ``A_i = sum_j R(r_ij) (h_j x Y(r_ij)) / avg_num_neighbors``.

    The coupling is channel-wise (each channel of ``h_j`` couples with the edge harmonics
    on its own) with one weight per path and channel from an MLP of the radial basis,
    multiplied by the cutoff envelope so messages vanish smoothly at the cutoff.

    Inputs: ``features`` [n_atoms, C, layout_in.dim], ``harmonics`` [n_edges,
    layout_sh.dim], ``radial`` [n_edges, num_basis], ``envelope`` [n_edges]. Output
    [n_atoms, C, layout_out.dim].
    """

    def __init__(
        self,
        layout_in: IrrepsLayout,
        layout_sh: IrrepsLayout,
        layout_out: IrrepsLayout,
        num_basis: int,
        radial_hidden: int,
    ):
        super().__init__()
        self.linear_up = IrrepsLinear(layout_in, layout_in)
        self.coupling = EdgeCoupling(layout_in, layout_sh, layout_out.irreps)
        self.radial = RadialMLP(num_basis, radial_hidden, self.coupling.num_paths * layout_in.channels)
        self.linear_down = IrrepsLinear(self.coupling.layout_out, layout_out)

    def forward(
        self,
        features: Tensor,
        harmonics: Tensor,
        radial: Tensor,
        envelope: Tensor,
        senders: Tensor,
        receivers: Tensor,
        avg_num_neighbors: Tensor,
    ) -> Tensor:
        n_atoms, channels = features.shape[0], features.shape[1]
        features = self.linear_up(features)
        weights = (self.radial(radial) * envelope.unsqueeze(-1)).view(radial.shape[0], channels, self.coupling.num_paths)
        messages = self.coupling(features.index_select(0, senders), harmonics, weights)
        aggregated = scatter_sum(messages.reshape(messages.shape[0], channels * self.coupling.dim_out), receivers, n_atoms)
        aggregated = aggregated.view(n_atoms, channels, self.coupling.dim_out) / avg_num_neighbors
        return self.linear_down(aggregated)
