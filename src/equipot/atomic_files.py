"""Writing files atomically: a temporary file next to the target, synced, then renamed.

A file written this way is either its old version or the new one, never a partial one,
even if the process is killed while writing (model files, checkpoints, metrics).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_copy", "atomic_write"]


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
