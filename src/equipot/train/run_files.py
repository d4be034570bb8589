"""The files of a training run; they are written with `equipot.atomic_files`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..atomic_files import atomic_copy, atomic_write

__all__ = ["RunPaths", "atomic_copy", "atomic_write"]


@dataclass(frozen=True)
class RunPaths:
    """Where a run in ``output_dir`` keeps its files."""

    output_dir: Path

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        """Full training state after the last finished epoch (to resume from)."""
        return self.checkpoint_dir / "last.ckpt"

    @property
    def best_checkpoint(self) -> Path:
        """Full training state after the epoch with the lowest validation loss."""
        return self.checkpoint_dir / "best.ckpt"

    @property
    def best_model(self) -> Path:
        """Model file (EMA weights) of the epoch with the lowest validation loss."""
        return self.output_dir / "model.pt"

    @property
    def last_model(self) -> Path:
        """Model file (EMA weights) after the last epoch."""
        return self.output_dir / "last_model.pt"

    @property
    def metrics(self) -> Path:
        return self.output_dir / "metrics.csv"

    @property
    def learning_curve(self) -> Path:
        return self.output_dir / "learning_curve.png"

    @property
    def config(self) -> Path:
        """The resolved config of the run (species filled in, absolute paths)."""
        return self.output_dir / "config.yaml"
