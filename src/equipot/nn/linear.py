"""`IrrepsLinear`: equivariant channel mixing within each irrep type."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .layout import IrrepsLayout

__all__ = ["IrrepsLinear"]


class IrrepsLinear(nn.Module):
    """``out[n, :, block of ir] = sum over input blocks of ir: x[n, :, block] @ W``.

    Mixes channels (and repeated input copies of the same irrep) separately for each irrep
    type of ``layout_out``; irreps of the output absent from the input stay zero.

    ``x`` [n, layout_in.channels, layout_in.dim] -> [n, layout_out.channels, layout_out.dim].
    """

    def __init__(self, layout_in: IrrepsLayout, layout_out: IrrepsLayout):
        super().__init__()
        self.layout_in, self.layout_out = layout_in, layout_out
        self.groups: list[tuple[int, list[int]]] = []  # (output irrep index, input irrep indices)
        self.weights = nn.ParameterList()
        for index_out, irrep in enumerate(layout_out.irreps):
            sources = [i for i, ir in enumerate(layout_in.irreps) if ir == irrep]
            if not sources:
                continue
            fan_in = layout_in.channels * len(sources)
            self.groups.append((index_out, sources))
            self.weights.append(nn.Parameter(torch.randn(fan_in, layout_out.channels) / math.sqrt(fan_in)))
        self._sizes_in = [2 * l + 1 for l, _ in layout_in.irreps]
        self._slices_out = layout_out.slices

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        # torch.split (not slicing): its backward is one cat instead of zero-filled copies
        inputs = torch.split(x, self._sizes_in, dim=-1) if len(self._sizes_in) > 1 else (x,)
        blocks: list[Tensor | None] = [None] * len(self.layout_out.irreps)
        for (index_out, sources), weight in zip(self.groups, self.weights):
            size = self._slices_out[index_out].stop - self._slices_out[index_out].start
            source = inputs[sources[0]] if len(sources) == 1 else torch.cat([inputs[i] for i in sources], dim=1)
            # [n, C_in*k, m] -> [n, m, C_in*k] @ W -> [n, m, C_out] -> [n, C_out, m]
            blocks[index_out] = (source.transpose(1, 2) @ weight).transpose(1, 2).reshape(n, self.layout_out.channels, size)
        channels = self.layout_out.channels
        full = [
            block if block is not None else x.new_zeros(n, channels, s.stop - s.start)
            for block, s in zip(blocks, self._slices_out)
        ]
        return full[0] if len(full) == 1 else torch.cat(full, dim=-1)
