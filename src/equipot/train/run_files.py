"""The files of a training run, and writing them atomically (temporary file, then rename).

A file written with `atomic_write` or `atomic_copy` is either the old version or the
new one, never a partial one, even if the process is killed while writing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(stream)`` on a temporary file next to ``path``, sync it, then rename it
    onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes files private (0600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_copy(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Copy ``source`` onto ``destination`` atomically."""
    with open(source, "rb") as stream:
        return atomic_write(destination, lambda out: shutil.copyfileobj(stream, out))
