"""Checkpoints that survive a kill: atomic writes, best and last, early stopping; reading
them back as plain data only (`read_checkpoint`)."""

from __future__ import annotations

import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint

from ..models.io import save_model
from .errors import CheckpointError
from .run_files import RunPaths, atomic_copy, atomic_write

__all__ = ["AtomicCheckpointIO", "RunCheckpoints", "model_metadata", "read_checkpoint"]

#: entries every training checkpoint of equipot holds (Lightning's and `PotentialModule`'s)
_REQUIRED_ENTRIES = ("state_dict", "optimizer_states", "loops", "equipot")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes to a temporary file and renames it into place, so
    a checkpoint on disk is always complete, and reads checkpoints as plain data only
    (`read_checkpoint`), whatever ``weights_only`` Lightning passes."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO does not take storage_options, got {storage_options!r}")
        atomic_write(Path(path), lambda stream: torch.save(checkpoint, stream))

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(path, map_location)


def read_checkpoint(path: str | os.PathLike, map_location: Any | None = None) -> dict[str, Any]:
    """The content of the training checkpoint ``path`` (in ``output_dir/checkpoints/``), read
    with ``torch.load(weights_only=True)``: tensors and plain Python values only, so that
    reading a file never executes code from it.

    Raises `CheckpointError` with a one-line message (what is wrong, what to do instead)
    for a file that holds other Python objects, a damaged or cut-short file, and a file
    that is not an equipot training checkpoint; FileNotFoundError for a missing one.
    """
    path = Path(path)
    advice = _advice(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError):
        raise
    except pickle.UnpicklingError as error:
        names = sorted(set(re.findall(r"GLOBAL ([\w.]+)", str(error))))  # what it would import and call
        if not names:  # a damaged pickle stream
            raise CheckpointError(f"{path} is damaged ({_unpickling_problem(error)}); {advice}") from None
        raise CheckpointError(
            f"{path} is not a plain-data checkpoint: it holds Python objects ({', '.join(names)}) that "
            "could execute code when loaded, so it was not loaded. equipot writes checkpoints of "
            f"tensors and plain values only; do not resume from this file: {advice}"
        ) from None
    except Exception as error:  # noqa: BLE001  (torch raises OSError, RuntimeError, EOFError, KeyError, ...)
        reason = f"{type(error).__name__}: {_first_line(error)}" if _first_line(error) else type(error).__name__
        raise CheckpointError(f"{path} is damaged or cut short ({reason}); {advice}") from None
    missing = [key for key in _REQUIRED_ENTRIES if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path} is not a training checkpoint of equipot (it lacks {', '.join(missing)}); {advice}"
        )
    return checkpoint


def _advice(path: Path) -> str:
    """What to do instead of resuming from the checkpoint ``path`` of a run folder."""
    paths = RunPaths(path.parent.parent)
    options = "start fresh with a new output_dir"
    if path != paths.best_checkpoint and paths.best_checkpoint.is_file():
        options = (
            f"resume from the best epoch by copying {paths.best_checkpoint} onto {path}, or " + options
        )
    if paths.best_model.is_file():
        options += f"; the best model so far is {paths.best_model}"
    return options


def _unpickling_problem(error: pickle.UnpicklingError) -> str:
    """The line of torch's weights-only message that names the problem ("Unsupported operand 103")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    after = [line for previous, line in zip(lines, lines[1:]) if previous.endswith("WeightsUnpickler error:")]
    return after[0] if after else _first_line(error)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else ""


def model_metadata(pl_module: Any, record: dict[str, float], best_epoch: int) -> dict[str, Any]:
    """Metadata of a model file: resolved config, dataset statistics, epochs and metrics."""
    valid = {key.removeprefix("valid_"): value for key, value in record.items() if key.startswith("valid_")}
    return {
        **pl_module.run_info,
        "epochs_trained": int(record["epoch"]),
        "best_epoch": best_epoch if not float(best_epoch).is_integer() else int(best_epoch),  # 3.45: inside epoch 4
        "metrics": {"valid": valid},
    }


class RunCheckpoints(Checkpoint):
    """After every epoch: ``checkpoints/last.ckpt``; when the validation loss improved,
    first ``checkpoints/best.ckpt`` and ``model.pt`` (EMA weights), then last. With
    ``every_n_steps``, also ``last.ckpt`` every that many optimizer steps. Stops the run
    after ``patience`` epochs without improvement (None: never).

    The best loss restarts from infinity at the loss switch (``switch_epoch``), where the
    loss changes meaning. State (best loss and epoch, epochs without improvement) is saved
    in the checkpoint, so a resumed run decides exactly as an uninterrupted one.
    """

    def __init__(
        self,
        paths: RunPaths,
        patience: int | None = None,
        switch_epoch: int | None = None,
        every_n_steps: int | None = None,
    ):
        super().__init__()
        self.paths, self.patience, self.switch_epoch, self.every_n_steps = paths, patience, switch_epoch, every_n_steps
        self.best_loss, self.best_epoch, self.bad_epochs = math.inf, 0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_loss = float(state_dict["best_loss"])
        self.best_epoch = int(state_dict["best_epoch"])
        self.bad_epochs = int(state_dict["bad_epochs"])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # resumed from the checkpoint of the epoch that triggered early stopping
        if self.patience is not None and self.bad_epochs >= self.patience:
            trainer.should_stop = True

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Every ``every_n_steps`` steps, a mid-epoch ``last.ckpt`` (not at the last batch:
        the end-of-epoch checkpoint follows)."""
        last_batch = batch_idx + 1 >= trainer.num_training_batches
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0 and not last_batch:
            trainer.save_checkpoint(self.paths.last_checkpoint, weights_only=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = pl_module.epoch_record
        if not record:  # no validation ran in this epoch
            return
        if getattr(pl_module, "stopped_fraction", None) is not None:
            self._keep_partial_epoch(trainer, pl_module, record)
            return
        if self.switch_epoch is not None and trainer.current_epoch == self.switch_epoch:
            self.best_loss, self.bad_epochs = math.inf, 0
        loss = record["valid_loss"]
        improved = loss < self.best_loss
        if improved:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, int(record["epoch"]), 0
            trainer.save_checkpoint(self.paths.best_checkpoint, weights_only=False)
            if trainer.is_global_zero:
                save_model(
                    pl_module.averaged_model, self.paths.best_model, model_metadata(pl_module, record, self.best_epoch)
                )
                atomic_copy(self.paths.best_checkpoint, self.paths.last_checkpoint)
            trainer.strategy.barrier("equipot-best-checkpoint")
        else:
            self.bad_epochs += 1
            trainer.save_checkpoint(self.paths.last_checkpoint, weights_only=False)
        if self.patience is not None and self.bad_epochs >= self.patience:
            trainer.should_stop = True

    def _keep_partial_epoch(self, trainer: pl.Trainer, pl_module: pl.LightningModule, record: dict[str, float]) -> None:
        """After a time-budget stop inside an epoch (its ``last.ckpt`` is written already):
        ``model.pt`` takes the validated EMA weights if they beat the best so far. The
        checkpoints' state (best loss, epochs without improvement) is left as the stop
        found it, so a resumed run decides exactly as an uninterrupted one; it replaces
        this ``model.pt`` with the next whole epoch that beats the best whole epoch."""
        switched = self.switch_epoch is not None and trainer.current_epoch >= self.switch_epoch
        to_beat = math.inf if switched and self.best_epoch <= self.switch_epoch else self.best_loss  # type: ignore[operator]
        if record["valid_loss"] < to_beat:
            self.best_loss, self.best_epoch = record["valid_loss"], record["epoch"]  # type: ignore[assignment]
            if trainer.is_global_zero:
                save_model(pl_module.averaged_model, self.paths.best_model, model_metadata(pl_module, record, self.best_epoch))
        trainer.strategy.barrier("equipot-partial-epoch")
