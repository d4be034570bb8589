"""Summation of per-edge or per-atom values into their receivers or graphs."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["scatter_sum"]


def scatter_sum(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Sum rows of ``values`` [n, ...] into ``size`` rows by ``index`` [n]."""
    out = torch.zeros((size, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add(0, index, values)
