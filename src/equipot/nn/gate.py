"""Gated equivariant nonlinearity."""

from __future__ import annotations

import torch
from e3nn import o3
from e3nn.nn import Gate
from torch import Tensor, nn

__all__ = ["GatedNonlinearity"]


class GatedNonlinearity(nn.Module):
    """Linear map to ``scalars + gates + gated`` then e3nn's `Gate`.

    Even scalars pass through SiLU, odd scalars through tanh (odd, so parity is kept);
    every ``l > 0`` channel is multiplied by the sigmoid of its own scalar gate.
    Input [n_atoms, irreps_in.dim], output [n_atoms, irreps_out.dim].
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        activations = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
        self.gate = Gate(scalars, activations, gates, [torch.sigmoid] if gates else [], gated)
        self.linear = o3.Linear(irreps_in, self.gate.irreps_in)
        self.irreps_out = self.gate.irreps_out

    def forward(self, features: Tensor) -> Tensor:
        return self.gate(self.linear(features))
