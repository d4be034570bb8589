"""Equivariant message passing: neighbor features x edge harmonics, radially weighted."""

from __future__ import annotations

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet
from torch import Tensor, nn

from ..o3 import coupling_paths
from .scatter import scatter_sum

__all__ = ["Interaction"]


class Interaction(nn.Module):
    """One round of messages ``A_i = sum_j R(r_ij) (h_j x Y(r_ij)) / avg_num_neighbors``.

    The tensor product is channel-wise (``uvu``: each channel of ``h_j`` couples with the
    edge harmonics on its own), its path weights come from an MLP of the radial basis,
    multiplied by the cutoff envelope so messages vanish smoothly at the cutoff.

    Inputs: ``node_features`` [n_atoms, irreps_in.dim], ``edge_harmonics``
    [n_edges, irreps_sh.dim], ``edge_radial`` [n_edges, num_basis], ``edge_envelope``
    [n_edges]. Output [n_atoms, irreps_out.dim].
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_sh: o3.Irreps,
        irreps_out: o3.Irreps,
        num_basis: int,
        radial_hidden: int,
    ):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.linear_up = o3.Linear(self.irreps_in, self.irreps_in)
        irreps_mid, instructions = coupling_paths(self.irreps_in, irreps_sh, self.irreps_out, "uvu")
        self.tensor_product = o3.TensorProduct(
            self.irreps_in, irreps_sh, irreps_mid, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = FullyConnectedNet(
            [num_basis, radial_hidden, radial_hidden, self.tensor_product.weight_numel], torch.nn.functional.silu
        )
        self.linear_down = o3.Linear(irreps_mid, self.irreps_out)

    def forward(
        self,
        node_features: Tensor,
        edge_harmonics: Tensor,
        edge_radial: Tensor,
        edge_envelope: Tensor,
        senders: Tensor,
        receivers: Tensor,
        avg_num_neighbors: Tensor,
    ) -> Tensor:
        features = self.linear_up(node_features)
        weights = self.radial(edge_radial) * edge_envelope.unsqueeze(-1)
        messages = self.tensor_product(features[senders], edge_harmonics, weights)
        aggregated = scatter_sum(messages, receivers, node_features.shape[0]) / avg_num_neighbors
        return self.linear_down(aggregated)
