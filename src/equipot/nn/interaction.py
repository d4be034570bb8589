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
    """``num_basis -> hidden -> hidden`` with SiLU: [n_edges, num_basis] -> [n_edges, hidden].

    The last, linear layer to the path weights lives in `Interaction`, which expands it to
    one weight per output component.
    """

    def __init__(self, num_basis: int, hidden: int):
        super().__init__(nn.Linear(num_basis, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())


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
        self.radial = RadialMLP(num_basis, radial_hidden)
        channels, num_paths = layout_in.channels, self.coupling.num_paths
        # one weight per (channel, path); no bias, so the envelope can scale the hidden layer
        self.path_weights = nn.Linear(radial_hidden, channels * num_paths, bias=False)
        # rows of path_weights for each (channel, output component): the MLP then yields the
        # weights already expanded over components, with no per-edge gather
        component_rows = torch.arange(channels)[:, None] * num_paths + self.coupling.path_of_component[None, :]
        self.register_buffer("component_rows", component_rows.reshape(-1))
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
        hidden = self.radial(radial) * envelope.unsqueeze(-1)
        weights = hidden @ self.path_weights.weight.index_select(0, self.component_rows).T
        weights = weights.view(radial.shape[0], channels, self.coupling.dim_out)
        messages = self.coupling(features.index_select(0, senders), harmonics, weights)
        aggregated = scatter_sum(messages.reshape(messages.shape[0], channels * self.coupling.dim_out), receivers, n_atoms)
        aggregated = aggregated.view(n_atoms, channels, self.coupling.dim_out) / avg_num_neighbors
        return self.linear_down(aggregated)
