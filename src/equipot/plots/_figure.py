"""Headless figure creation and saving, without pyplot or global backend state.

Figures are built as ``matplotlib.figure.Figure`` attached to an Agg canvas, so they work
without a display, never touch the user's pyplot backend, and are freed as soon as they go
out of scope (pyplot would keep them alive until ``plt.close``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["legend_outside", "mae_rmse", "new_figure", "save_figure"]

DPI = 150


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (4.8, 4.4)) -> tuple[Figure, list[Axes]]:
    """A figure with an Agg canvas and ``nrows * ncols`` axes (flat list, row-major).

    ``size`` is the size of one panel in inches.
    """
    figure = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    return figure, list(np.asarray(axes).reshape(-1))


def legend_outside(axes: Axes) -> None:
    """The legend of ``axes`` to the right of it, where it hides no curve (constrained
    layout makes room and keeps the panels of a column aligned)."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` as PNG to ``path`` (parent folders created) and release it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    figure.clear()
    return path


def mae_rmse(errors: np.ndarray) -> tuple[float, float]:
    """MAE and RMSE of ``errors`` (any shape), in the errors' unit."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    return float(np.mean(np.abs(errors))), float(np.sqrt(np.mean(errors**2)))
