"""Readouts from equivariant node features to per-atom scalars."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layout import IrrepsLayout

__all__ = ["LinearReadout", "NonLinearReadout"]


def _scalar_offset(layout: IrrepsLayout) -> int:
    if (0, 1) not in layout.irreps:
        raise ValueError(f"a readout needs even scalar (0e) features, got {layout}")
    return layout.offsets[layout.index((0, 1))]


class LinearReadout(nn.Module):
    """Linear map of the even scalars to one value per atom: [n_atoms, C, dim] -> [n_atoms]."""

    def __init__(self, layout: IrrepsLayout):
        super().__init__()
        self.offset = _scalar_offset(layout)
        self.linear = nn.Linear(layout.channels, 1, bias=False)

    def forward(self, features: Tensor) -> Tensor:
        # a matrix-vector product, not an [n, C] x [C, 1] mm: a compiler specializes the
        # number of atoms for the latter's small backward mm (a recompile per molecule size)
        return features[:, :, self.offset] @ self.linear.weight[0]

    def last_layer_inputs(self, features: Tensor) -> Tensor:
        """[n_atoms, C] inputs of the final linear map: ``forward(x) == last_layer_inputs(x) @ last_layer_weight``."""
        return features[:, :, self.offset]

    @property
    def last_layer_weight(self) -> Tensor:
        """[C] weights of the final linear map."""
        return self.linear.weight[0]


class NonLinearReadout(nn.Module):
    """Even scalars -> hidden SiLU layer -> one value per atom: [n_atoms, C, dim] -> [n_atoms]."""

    def __init__(self, layout: IrrepsLayout, hidden: int):
        super().__init__()
        self.offset = _scalar_offset(layout)
        self.hidden = nn.Linear(layout.channels, hidden, bias=False)
        self.out = nn.Linear(hidden, 1, bias=False)

    def forward(self, features: Tensor) -> Tensor:
        hidden = torch.nn.functional.silu(self.hidden(features[:, :, self.offset]))
        return hidden @ self.out.weight[0]  # a matrix-vector product: see LinearReadout

    def last_layer_inputs(self, features: Tensor) -> Tensor:
        """[n_atoms, hidden] inputs of the final linear map (the SiLU activations):
        ``forward(x) == last_layer_inputs(x) @ last_layer_weight``."""
        return torch.nn.functional.silu(self.hidden(features[:, :, self.offset]))

    @property
    def last_layer_weight(self) -> Tensor:
        """[hidden] weights of the final linear map."""
        return self.out.weight[0]
