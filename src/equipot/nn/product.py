"""Many-body product basis: powers of the aggregated messages, as in ACE and MACE."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .coupling import FeatureCoupling
from .layout import IrrepsLayout

__all__ = ["ProductBasis"]


class ProductBasis(nn.Module):
    """``B = sum_{nu=1..correlation} B_nu`` with ``B_1 = A`` and ``B_nu = B_{nu-1} x A``.

    Each product is channel-wise with path weights that depend on the species of the
    central atom, so ``B_nu`` carries (nu+1)-body correlations. ``correlation=1`` leaves
    the two-body messages unchanged (a NequIP-like model).

    ``features`` [n_atoms, C, layout.dim], ``species`` [n_atoms] -> [n_atoms, C, layout.dim].
    """

    def __init__(self, layout: IrrepsLayout, correlation: int, num_species: int):
        super().__init__()
        self.couplings = nn.ModuleList()
        self.weights = nn.ParameterList()
        for _ in range(correlation - 1):
            coupling = FeatureCoupling(layout, layout, layout)
            self.couplings.append(coupling)
            self.weights.append(nn.Parameter(torch.randn(num_species, layout.channels, coupling.num_paths)))

    def forward(self, features: Tensor, species: Tensor) -> Tensor:
        basis = features
        power = features
        for coupling, weights in zip(self.couplings, self.weights):
            power = coupling(power, features, weights.index_select(0, species))
            basis = basis + power
        return basis
