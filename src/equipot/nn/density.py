"""`DensityReadout`: an embedded-atom energy ``F_Z(rho_i)`` of smooth neighbor densities.

Why a model wants one (docs/model.md, "Density embedding"): under a homogeneous strain of
a centrosymmetric crystal the messages of the interaction layers reduce to pair sums, and
a trained network's pair sums often barely move with the volume. The part of the energy
that is not a pair potential -- what makes C12 differ from C44 in a cubic metal -- is then
quadratic in a small number, and gradient descent rarely finds it. Densities of fixed,
steep radial shape move by O(1) with the volume, so the curvature of ``F`` is learned
directly (Finnis-Sinclair and embedded-atom models are this term alone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .edges import EdgeContext
from .scatter import scatter_sum

__all__ = ["DensityReadout"]


class DensityReadout(nn.Module):
    """Per-atom energy ``F_{Z_i}(rho_i)`` of ``K`` neighbor densities:

        rho_ik = sum_j a_{Z_j k} exp(-beta_k r_ij) f_cut(r_ij)

    with fixed decay rates ``beta_k`` (1/Å), learned amplitudes ``a`` per neighbor species
    (start at 1), the model's smooth cutoff ``f_cut``, and ``F_Z`` a one-hidden-layer SiLU
    network per species of the densities normalized by ``density_mean`` and
    ``density_scale`` (fitted on training data with `fit_normalization`; 0 and 1 until
    then). The output layer starts at zero, so adding the readout to a trained model leaves
    its energies unchanged until training moves it. [n_atoms] in the units of the model's
    other readouts (before its ``scale``).
    """

    def __init__(self, num_species: int, decay_rates: Sequence[float], hidden: int):
        super().__init__()
        k = len(decay_rates)
        self.register_buffer("decay_rates", torch.tensor([float(b) for b in decay_rates]))
        self.register_buffer("density_mean", torch.zeros(k))
        self.register_buffer("density_scale", torch.ones(k))
        self.amplitudes = nn.Parameter(torch.ones(num_species, k))
        bound = 1.0 / math.sqrt(k)  # nn.Linear's default: the SiLU layer is curved where the densities lie
        self.hidden_weight = nn.Parameter(torch.empty(num_species, k, hidden).uniform_(-bound, bound))
        self.hidden_bias = nn.Parameter(torch.empty(num_species, hidden).uniform_(-bound, bound))
        self.out_weight = nn.Parameter(torch.zeros(num_species, hidden))

    def densities(self, species: Tensor, edges: EdgeContext) -> Tensor:
        """[n_atoms, K] raw densities ``rho_ik`` of atoms of dense ``species`` [n_atoms]."""
        lengths = torch.linalg.norm(edges.vectors, dim=-1).unsqueeze(-1)
        shapes = torch.exp(-self.decay_rates * lengths) * edges.envelope.unsqueeze(-1)
        weighted = shapes * self.amplitudes.index_select(0, species.index_select(0, edges.senders))
        return scatter_sum(weighted, edges.receivers, species.shape[0])

    def forward(self, species: Tensor, edges: EdgeContext) -> Tensor:
        normalized = (self.densities(species, edges) - self.density_mean) / self.density_scale
        hidden = torch.einsum("nk,nkh->nh", normalized, self.hidden_weight.index_select(0, species))
        hidden = torch.nn.functional.silu(hidden + self.hidden_bias.index_select(0, species))
        return (hidden * self.out_weight.index_select(0, species)).sum(-1)

    @torch.no_grad()
    def fit_normalization(self, densities: Tensor) -> None:
        """Set ``density_mean`` and ``density_scale`` from raw densities [n_atoms, K] (their
        mean and standard deviation over atoms; a scale of 0 becomes 1)."""
        densities = densities.to(self.density_mean.dtype)
        self.density_mean.copy_(densities.mean(0))
        scale = densities.std(0) if densities.shape[0] > 1 else torch.zeros_like(self.density_scale)
        self.density_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))
