"""Whether long operations draw progress bars and spinners.

They are drawn only on a terminal, and not at all inside `progress_bars(False)`: what the
commands' ``--no-progress`` does (for logs of batch jobs, CI, ``| tee``).

>>> from equipot.progress import progress_bars, progress_enabled
>>> with progress_bars(False):
...     progress_enabled()
False
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["progress_bars", "progress_enabled"]

_enabled = True


def progress_enabled() -> bool:
    """False inside `progress_bars(False)`; a bar is then not drawn even on a terminal."""
    return _enabled


@contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Turn progress bars on or off for the code inside; the previous setting comes back after."""
    global _enabled
    previous, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        _enabled = previous
