"""Readouts from equivariant node features to per-atom scalars."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import Tensor, nn

from ..o3 import scalar_irreps

__all__ = ["LinearReadout", "NonLinearReadout"]


class LinearReadout(nn.Module):
    """Linear map of the scalar (0e) features to one value per atom: [n_atoms, dim] -> [n_atoms]."""

    def __init__(self, irreps_in: o3.Irreps):
        super().__init__()
        self.linear = o3.Linear(irreps_in, o3.Irreps("1x0e"))

    def forward(self, features: Tensor) -> Tensor:
        return self.linear(features).squeeze(-1)


class NonLinearReadout(nn.Module):
    """Scalars -> hidden SiLU layer -> one value per atom: [n_atoms, dim] -> [n_atoms]."""

    def __init__(self, irreps_in: o3.Irreps, hidden: int):
        super().__init__()
        if scalar_irreps(irreps_in).dim == 0:
            raise ValueError(f"readout needs scalar (0e) features, got {irreps_in}")
        self.linear = o3.Linear(irreps_in, o3.Irreps(f"{hidden}x0e"))
        self.out = nn.Linear(hidden, 1, bias=False)

    def forward(self, features: Tensor) -> Tensor:
        return self.out(torch.nn.functional.silu(self.linear(features))).squeeze(-1)
