"""Errors raised while setting up or running a training."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "FinetuneError",
    "NonFiniteLossError",
    "RunExistsError",
    "RunInUseError",
    "TrainingDataError",
]


class TrainingDataError(ValueError):
    """The data do not fit the config: empty sets, labels the loss needs are missing, ..."""


class FinetuneError(ValueError):
    """The model to fine-tune does not fit the data or the config."""


class RunExistsError(FileExistsError):
    """The output folder already holds a run and ``resume`` was not asked for."""


class RunInUseError(FileExistsError):
    """Another process is training into the same output folder (it holds the folder's lock)."""


class CheckpointError(ValueError):
    """A checkpoint to resume from is damaged, is not an equipot training checkpoint, or holds
    more than plain data (it would execute code when loaded): it is not loaded."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch, batch and structures."""
