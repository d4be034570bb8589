"""`IrrepsLinear`: equivariant channel mixing within each irrep type."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .layout import IrrepsLayout

__all__ = ["DenseIrrepsLinear", "IrrepsLinear", "use_dense_linears"]


class IrrepsLinear(nn.Module):
    """``out[n, :, block of ir] = sum over input blocks of ir: x[n, :, block] @ W``.

    Mixes channels (and repeated input copies of the same irrep) separately for each irrep
    type of ``layout_out``; irreps of the output absent from the input stay zero.

    ``x`` [n, layout_in.channels, layout_in.dim] -> [n, layout_out.channels, layout_out.dim].

    `DenseIrrepsLinear` is the same map as one matrix product (for compiled inference).
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

    @classmethod
    def sharing_weights_of(cls, linear: IrrepsLinear) -> IrrepsLinear:
        """A ``cls`` (this form or `DenseIrrepsLinear`) of the same map, sharing the weights
        of ``linear`` (no copy)."""
        shared = cls.__new__(cls)
        nn.Module.__init__(shared)
        shared.layout_in, shared.layout_out, shared.groups = linear.layout_in, linear.layout_out, linear.groups
        shared.weights = linear.weights
        shared._sizes_in, shared._slices_out = linear._sizes_in, linear._slices_out
        return shared.train(linear.training)

    def dense_weight(self) -> Tensor:
        """[layout_in.channels * layout_in.dim, layout_out.channels * layout_out.dim]: the
        map on flattened features, zero between different components."""
        layout_in, layout_out = self.layout_in, self.layout_out
        first = self.weights[0]
        dense = first.new_zeros(layout_in.channels, layout_in.dim, layout_out.channels, layout_out.dim)
        for (index_out, sources), weight in zip(self.groups, self.weights):
            block_out = self._slices_out[index_out]
            for copy, source in enumerate(sources):
                block_in = layout_in.slices[source]
                placement = first.new_zeros(layout_in.dim, layout_out.dim)
                placement[block_in, block_out] = torch.eye(block_in.stop - block_in.start, dtype=first.dtype, device=first.device)
                rows = weight[copy * layout_in.channels : (copy + 1) * layout_in.channels]
                dense = dense + torch.einsum("cd,io->cido", rows, placement)
        return dense.reshape(layout_in.channels * layout_in.dim, layout_out.channels * layout_out.dim)

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


class DenseIrrepsLinear(IrrepsLinear):
    """`IrrepsLinear` as one matrix product with its `dense_weight` (the per-irrep weights
    placed on every component): a few times the arithmetic, but one library call instead
    of one batched product per irrep. It pays where the dense weight is computed once:
    in compiled inference, whose freezing folds it into a constant (docs/performance.md).
    Training keeps the per-irrep products. Same parameters and state-dict keys as
    `IrrepsLinear`: ``DenseIrrepsLinear.sharing_weights_of(linear)`` is the dense form of
    an existing map.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.groups:  # no irrep in common: zeros, as the per-irrep form gives
            return super().forward(x)
        n = x.shape[0]
        return (x.reshape(n, -1) @ self.dense_weight()).view(n, self.layout_out.channels, self.layout_out.dim)


def use_dense_linears(module: nn.Module, dense: bool = True) -> None:
    """Replace, in place, every `IrrepsLinear` inside ``module`` by its `DenseIrrepsLinear`
    form (``dense=False``: back to the per-irrep form), sharing the weights."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, IrrepsLinear) and isinstance(child, DenseIrrepsLinear) != dense:
                form = DenseIrrepsLinear if dense else IrrepsLinear
                setattr(parent, name, form.sharing_weights_of(child))
