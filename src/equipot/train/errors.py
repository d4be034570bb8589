"""Errors raised while setting up or running a training."""

from __future__ import annotations

__all__ = ["FinetuneError", "NonFiniteLossError", "RunExistsError", "TrainingDataError"]


class TrainingDataError(ValueError):
    """The data do not fit the config: empty sets, labels the loss needs are missing, ..."""


class FinetuneError(ValueError):
    """The model to fine-tune does not fit the data or the config."""


class RunExistsError(FileExistsError):
    """The output folder already holds a run and ``resume`` was not asked for."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch, batch and structures."""
