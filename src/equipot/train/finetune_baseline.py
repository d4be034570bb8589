"""`FinetuneBaseline`: a fine-tune keeps its base model unless an epoch beats it.

Fine-tuning can end worse than it started (too high a learning rate, too few or too
different structures). Before the first step the base model is evaluated on the
validation set as "epoch 0": its loss becomes the best loss to beat, and it is written
as ``model.pt``. An epoch replaces it only with a lower validation loss (the usual rule of
`RunCheckpoints`); if none does, ``model.pt`` stays the base model and the run says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from ..models import EquivariantPotential
from ..models.io import save_model
from .checkpoints import RunCheckpoints, model_metadata
from .run_files import RunPaths

__all__ = ["FinetuneBaseline"]


class FinetuneBaseline(Callback):
    """Validation metrics of the base model (``evaluate``: model -> metrics with ``loss``,
    as `equipot.train.evaluate_errors`) as the best to beat, at the start of a fresh run
    (not when resuming: the checkpoint holds the best loss already). ``baseline`` holds
    the base model's metrics once evaluated; ``best_finetuned_loss`` the lowest
    validation loss of the fine-tuned epochs."""

    def __init__(self, paths: RunPaths, evaluate: Callable[[EquivariantPotential], dict[str, float]], verbose: bool = True):
        super().__init__()
        self.paths, self.evaluate, self.verbose = paths, evaluate, verbose
        self.baseline: dict[str, float] | None = None
        self.best_finetuned_loss = math.inf

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "best_finetuned_loss": self.best_finetuned_loss}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.baseline = state_dict["baseline"]
        self.best_finetuned_loss = float(state_dict["best_finetuned_loss"])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        checkpoints = trainer.checkpoint_callback
        if trainer.global_step > 0 or trainer.current_epoch > 0 or self.baseline is not None:
            return  # resumed: the checkpoint's best loss already counts the base model
        assert isinstance(checkpoints, RunCheckpoints)
        metrics = self.evaluate(pl_module.averaged_model)  # type: ignore[arg-type]
        self.baseline = metrics
        checkpoints.best_loss, checkpoints.best_epoch = metrics["loss"], 0
        if trainer.is_global_zero:
            record = {"epoch": 0, **{f"valid_{name}": value for name, value in metrics.items()}}
            save_model(pl_module.averaged_model, self.paths.best_model, model_metadata(pl_module, record, 0))  # type: ignore[arg-type]
            if self.verbose:
                print(f"fine-tuning: the base model's validation loss is {metrics['loss']:.6g}{_errors(metrics)} "
                      "(epoch 0); it stays model.pt unless an epoch does better", flush=True)
        trainer.strategy.barrier("equipot-finetune-baseline")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = getattr(pl_module, "epoch_record", {})
        if record:
            self.best_finetuned_loss = min(self.best_finetuned_loss, float(record["valid_loss"]))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        checkpoints = trainer.checkpoint_callback
        if self.baseline is None or not isinstance(checkpoints, RunCheckpoints) or checkpoints.best_epoch != 0:
            return
        if trainer.is_global_zero and self.verbose:
            print(f"fine-tuning did not beat the base model: best validation loss of the fine-tuned epochs "
                  f"{self.best_finetuned_loss:.6g} >= {self.baseline['loss']:.6g} of the base model; model.pt "
                  "is the base model (try a lower optimizer.lr, more data or more epochs)", flush=True)


def _errors(metrics: dict[str, float]) -> str:
    parts = []
    if "energy_per_atom_mae" in metrics:
        parts.append(f"energy MAE {metrics['energy_per_atom_mae']:.2f} meV/atom")
    if "forces_mae" in metrics:
        parts.append(f"forces MAE {metrics['forces_mae']:.1f} meV/Å")
    return f" ({', '.join(parts)})" if parts else ""
