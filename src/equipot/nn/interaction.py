"""Equivariant message passing: neighbor features x edge harmonics, radially weighted."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .chunked_messages import chunked_edge_sum
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
    [n_atoms, C, layout_out.dim]. With ``first_order_only=True`` the edge sum of a large
    graph runs in chunks of edges (`chunked_edge_sum`): same result, memory linear in
    atoms with a small constant, but differentiable only once (energy and forces, not
    training on forces).
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
        self._radial_names = [name for name, _ in self.radial.named_parameters()]
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
        first_order_only: bool = False,
    ) -> Tensor:
        features = self.linear_up(features)
        # parameters as views: the chunked backward can then skip their gradients for forces
        parameters = [p.view_as(p) for p in self.radial.parameters()]
        parameters.append(self.path_weights.weight.index_select(0, self.component_rows).T)  # [hidden, C * dim_out]

        def edge_messages(sent: Tensor, harmonics: Tensor, radial: Tensor, envelope: Tensor, *weights: Tensor) -> Tensor:
            radial_parameters, weight_matrix = dict(zip(self._radial_names, weights[:-1])), weights[-1]
            hidden = torch.func.functional_call(self.radial, radial_parameters, (radial,)) * envelope.unsqueeze(-1)
            path_weights = (hidden @ weight_matrix).view(sent.shape[0], sent.shape[1], self.coupling.dim_out)
            return self.coupling(sent, harmonics, path_weights)

        edge_inputs = (harmonics, radial, envelope)
        if first_order_only:
            aggregated = chunked_edge_sum(edge_messages, features, senders, receivers, edge_inputs, parameters)
        else:
            messages = edge_messages(features.index_select(0, senders), *edge_inputs, *parameters)
            aggregated = scatter_sum(messages, receivers, features.shape[0])
        return self.linear_down(aggregated / avg_num_neighbors)
