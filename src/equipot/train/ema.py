"""Exponential moving average (EMA) of a potential's weights."""

from __future__ import annotations

import torch
from torch import nn

from ..models import Potential

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage(nn.Module):
    """A copy of ``model`` (a potential with parameters and ``converted(dtype)``) whose
    parameters follow ``p_ema <- d p_ema + (1 - d) p`` after every optimizer step, with ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates
    (a warm-up, so the average forgets the random initial weights quickly).

    It is a submodule of the training module, so its weights and ``num_updates`` are
    stored in checkpoints; buffers (normalization constants) are copied, not averaged.
    """

    def __init__(self, model: Potential, decay: float = 0.99):
        super().__init__()
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.model = model.converted(next(model.parameters()).dtype)
        self.model.requires_grad_(False)
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long))

    def current_decay(self) -> float:
        """The decay the next `update` uses."""
        n = int(self.num_updates)
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: Potential) -> None:
        """Move the average towards ``model``'s current weights."""
        weight = 1.0 - self.current_decay()
        averaged = list(self.model.parameters())
        current = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(averaged, current, weight)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=False):
            mine.copy_(theirs)
        self.num_updates += 1
