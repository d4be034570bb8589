"""Equivariant message passing: neighbor features x edge harmonics, radially weighted."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from .chunked_messages import chunked_edge_sum
from .coupling import EdgeCoupling
from .edges import EdgeContext
from .layout import IrrepsLayout
from .linear import IrrepsLinear
from .scatter import scatter_sum

__all__ = ["Interaction", "RadialMLP"]


#: 1 / sqrt(E[silu(z)^2]) for z ~ N(0, 1): the gain that keeps unit variance through a SiLU
#: (e3nn's ``normalize2mom``)
SILU_GAIN = 1.679


def init_after_silu(linear: nn.Linear) -> None:
    """Weights ~ N(0, SILU_GAIN^2 / fan_in), bias 0: variance-preserving through SiLU layers."""
    with torch.no_grad():
        linear.weight.normal_(0.0, SILU_GAIN / math.sqrt(linear.in_features))
        if linear.bias is not None:
            linear.bias.zero_()


class RadialMLP(nn.Sequential):
    """``num_basis -> hidden -> hidden`` with SiLU: [n_edges, num_basis] -> [n_edges, hidden].

    The last, linear layer to the path weights lives in `Interaction`, which expands it to
    one weight per output component.

    Initialized variance-preserving (`init_after_silu`, as e3nn's and MACE's radial nets),
    not with torch's default: that default (weights of variance 1 / (3 fan_in) and a bias
    as large) shrinks each layer, so the radial functions start tiny and nearly flat in r,
    the messages barely change under a homogeneous strain, and the nonlinearities act on
    them linearly. A model so initialized trains into a pair potential for homogeneous
    strain (C12 = C44 for every cubic crystal it learns; docs/distillation.md, study (a)).
    """

    def __init__(self, num_basis: int, hidden: int):
        super().__init__(nn.Linear(num_basis, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        init_after_silu(self[0])
        init_after_silu(self[2])

    def weights(self) -> list[Tensor]:
        """``[W1, b1, W2, b2]``, the arguments of `apply_weights` after the input."""
        first, second = self[0], self[2]
        return [first.weight, first.bias, second.weight, second.bias]

    @staticmethod
    def apply_weights(radial: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
        """The MLP with the given weights (those of `weights`, or views of them)."""
        return functional.silu(functional.linear(functional.silu(functional.linear(radial, w1, b1)), w2, b2))


class Interaction(nn.Module):
    """One round of messages ``A_i = sum_j R(r_ij) (h_j x Y(r_ij)) / avg_num_neighbors``.

    The coupling is channel-wise (each channel of ``h_j`` couples with the edge harmonics
    on its own) with one weight per path and channel from an MLP of the radial basis,
    multiplied by the cutoff envelope so messages vanish smoothly at the cutoff.

    ``features`` [n_atoms, C, layout_in.dim] and the graph's `EdgeContext` (harmonics
    [n_edges, layout_sh.dim], radial basis [n_edges, num_basis], envelope [n_edges]) ->
    [n_atoms, C, layout_out.dim]. With ``edges.first_order_only`` the edge sum of a large
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
        channels, num_paths = layout_in.channels, self.coupling.num_paths
        # one weight per (channel, path); no bias, so the envelope can scale the hidden layer
        self.path_weights = nn.Linear(radial_hidden, channels * num_paths, bias=False)
        init_after_silu(self.path_weights)
        # rows of path_weights for each (channel, output component): the MLP then yields the
        # weights already expanded over components, with no per-edge gather
        component_rows = torch.arange(channels)[:, None] * num_paths + self.coupling.path_of_component[None, :]
        self.register_buffer("component_rows", component_rows.reshape(-1))
        self.linear_down = IrrepsLinear(self.coupling.layout_out, layout_out)

    def _edge_weights(self) -> list[Tensor]:
        """The learned weights of `_messages`: the radial MLP's, then [hidden, C * dim_out]."""
        return [*self.radial.weights(), self.path_weights.weight.index_select(0, self.component_rows).T]

    def _messages(self, sent: Tensor, harmonics: Tensor, radial: Tensor, envelope: Tensor, *weights: Tensor) -> Tensor:
        """[e, C, dim_out] messages of ``e`` edges from the sent features [e, C, dim_in]."""
        hidden = RadialMLP.apply_weights(radial, *weights[:-1]) * envelope.unsqueeze(-1)
        path_weights = (hidden @ weights[-1]).view(sent.shape[0], sent.shape[1], self.coupling.dim_out)
        return self.coupling(sent, harmonics, path_weights)

    def forward(self, features: Tensor, edges: EdgeContext) -> Tensor:
        features = self.linear_up(features)
        weights = self._edge_weights()
        if edges.first_order_only:
            # weights as views: the chunked backward can then skip their gradients for forces
            views = [w.view_as(w) for w in weights]
            aggregated = chunked_edge_sum(self._messages, features, edges, views)
        else:
            messages = self._messages(features.index_select(0, edges.senders), *edges.per_edge, *weights)
            aggregated = scatter_sum(messages, edges.receivers, features.shape[0])
        return self.linear_down(aggregated / edges.avg_num_neighbors)
