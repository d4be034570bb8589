"""Gated equivariant nonlinearity."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layout import IrrepsLayout
from .linear import IrrepsLinear

__all__ = ["GatedNonlinearity"]


class GatedNonlinearity(nn.Module):
    """Channel mixing, then: even scalars through SiLU, odd scalars through tanh (odd, so
    parity is kept), and every ``l > 0`` block times the sigmoid of a gate computed from
    the even scalars (invariant, so equivariance is kept).

    [n_atoms, C, layout_in.dim] -> [n_atoms, C, layout_out.dim]; ``layout_out`` must
    contain even scalars (0e).
    """

    def __init__(self, layout_in: IrrepsLayout, layout_out: IrrepsLayout):
        super().__init__()
        self.linear = IrrepsLinear(layout_in, layout_out)
        self.scalar_slot = layout_out.index((0, 1))
        self.sizes = [2 * l + 1 for l, _ in layout_out.irreps]
        self.kinds = ["even" if ir == (0, 1) else "odd" if ir[0] == 0 else "gated" for ir in layout_out.irreps]
        num_gated = self.num_gated = self.kinds.count("gated")
        channels = layout_out.channels
        self.gates = nn.Linear(channels, channels * num_gated) if num_gated else None

    def forward(self, features: Tensor) -> Tensor:
        mixed = torch.split(self.linear(features), self.sizes, dim=-1)
        scalars = mixed[self.scalar_slot].squeeze(-1)  # [n, C]
        gates = torch.sigmoid(self.gates(scalars)).view(*scalars.shape, self.num_gated) if self.gates else None
        blocks, gate_index = [], 0
        for kind, values in zip(self.kinds, mixed):
            if kind == "even":
                blocks.append(torch.nn.functional.silu(values))
            elif kind == "odd":
                blocks.append(torch.tanh(values))
            else:
                assert gates is not None
                blocks.append(values * gates[:, :, gate_index : gate_index + 1])
                gate_index += 1
        return torch.cat(blocks, dim=-1)
