"""A small full-batch Adam loop for the extension models (fixed-size inputs, no graphs).

The atomic potentials train through `equipot.train` (Lightning, datasets of graphs);
the extension models map a few tensors to a few tensors and fit in seconds to minutes,
so they share this loop instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class FitHistory:
    """Loss per step (in the loss's own units) and the wall time the fit took (s)."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


def fit_full_batch(
    module: torch.nn.Module,
    loss_fn: Callable[[], Tensor],
    steps: int,
    learning_rate: float = 1e-2,
    seconds: float | None = None,
    final_learning_rate: float | None = None,
) -> FitHistory:
    """Minimise ``loss_fn()`` over ``module``'s parameters with Adam (``loss_fn`` may draw
    a new minibatch on each call).

    ``steps`` is the most steps taken; ``seconds`` (if given) stops earlier when the wall
    time is spent. The learning rate decays exponentially from ``learning_rate`` to
    ``final_learning_rate`` (default: a hundredth of it) over ``steps``.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    final = learning_rate / 100 if final_learning_rate is None else final_learning_rate
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    gamma = (final / learning_rate) ** (1.0 / steps)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
    history = FitHistory()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        scheduler.step()
        history.losses.append(float(loss.detach()))
        history.steps += 1
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    history.seconds = time.perf_counter() - start
    return history
