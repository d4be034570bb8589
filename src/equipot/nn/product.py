"""Many-body product basis: powers of the aggregated messages, as in ACE and MACE."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import Tensor, nn

from ..o3 import coupling_paths

__all__ = ["ProductBasis"]


class ProductBasis(nn.Module):
    """``B = sum_{nu=1..correlation} B_nu`` with ``B_1 = A`` and ``B_nu = (B_{nu-1} x A)``.

    Each product is channel-wise (``uuu``) with path weights that depend on the species of
    the central atom, so ``B_nu`` carries (nu+1)-body correlations. ``correlation=1``
    leaves the two-body messages unchanged (a NequIP-like model).

    Input ``features`` [n_atoms, irreps.dim] and ``species`` [n_atoms]; output
    [n_atoms, irreps.dim].
    """

    def __init__(self, irreps: o3.Irreps, correlation: int, num_species: int):
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.products = nn.ModuleList()
        self.product_weights = nn.ParameterList()
        for _ in range(correlation - 1):
            _, instructions = coupling_paths(self.irreps, self.irreps, self.irreps, "uuu")
            product = o3.TensorProduct(
                self.irreps, self.irreps, self.irreps, instructions, shared_weights=False, internal_weights=False
            )
            self.products.append(product)
            self.product_weights.append(nn.Parameter(torch.randn(num_species, product.weight_numel)))

    def forward(self, features: Tensor, species: Tensor) -> Tensor:
        basis = features
        power = features
        for product, weights in zip(self.products, self.product_weights):
            power = product(power, features, weights[species])
            basis = basis + power
        return basis
