"""Checkpoints that survive a kill: atomic writes, best and last, early stopping."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint

from ..models.io import save_model
from .run_files import RunPaths, atomic_copy, atomic_write

__all__ = ["AtomicCheckpointIO", "RunCheckpoints", "model_metadata"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes to a temporary file and renames it into place, so
    a checkpoint on disk is always complete."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO does not take storage_options, got {storage_options!r}")
        atomic_write(Path(path), lambda stream: torch.save(checkpoint, stream))


def model_metadata(pl_module: Any, record: dict[str, float], best_epoch: int) -> dict[str, Any]:
    """Metadata of a model file: resolved config, dataset statistics, epochs and metrics."""
    valid = {key.removeprefix("valid_"): value for key, value in record.items() if key.startswith("valid_")}
    return {
        **pl_module.run_info,
        "epochs_trained": int(record["epoch"]),
        "best_epoch": int(best_epoch),
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
