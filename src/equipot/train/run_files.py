"""The files of a training run; they are written with `equipot.atomic_files`. `RunLock`
keeps a second process from writing into a run folder that one is training into."""

from __future__ import annotations

import errno
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from ..atomic_files import atomic_copy, atomic_write
from .errors import RunInUseError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks through fcntl
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "RunPaths", "atomic_copy", "atomic_write"]


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

    @property
    def lock(self) -> Path:
        """Locked while a process trains into the folder; holds its PID and host (`RunLock`)."""
        return self.output_dir / "run.lock"


class RunLock:
    """An exclusive lock on a run folder, held while a process trains into it::

        with RunLock(paths):    # RunInUseError if another process holds it
            ...

    The lock is ``fcntl.flock`` on ``run.lock`` (which names the holder's PID and host): the
    system releases it when the holder exits, even by ``kill -9``, so a crashed run never
    leaves a stale lock behind. On a file system without locks (some cluster mounts) and on
    Windows, training goes on unlocked, with a warning on the former.
    """

    def __init__(self, paths: RunPaths):
        self.path = paths.lock
        self._stream: IO[str] | None = None

    def __enter__(self) -> RunLock:
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stream = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666), "r+", encoding="utf-8")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = stream.read().strip()
            stream.close()
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                warnings.warn(f"cannot lock {self.path} ({error.strerror}): a second run started into "
                              "this folder would not be stopped", RuntimeWarning, stacklevel=2)
                return self
            raise RunInUseError(
                f"{self.path.parent} is in use by another training process ({holder or 'PID unknown'}); "
                "wait for it to finish or stop it, or choose another output_dir"
            ) from None
        stream.seek(0)
        stream.truncate()
        stream.write(f"PID {os.getpid()} on {socket.gethostname()}\n")
        stream.flush()
        self._stream = stream
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._stream is not None:
            self._stream.truncate(0)  # the file stays (removing it would race with a next run)
            self._stream.close()  # closing releases the lock
            self._stream = None
