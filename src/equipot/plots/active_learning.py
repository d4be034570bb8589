"""Active learning: test force error against the number of labels, one point per round."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._figure import new_figure, save_figure

__all__ = ["plot_learning_report"]


def plot_learning_report(rows: list[dict[str, float]], path: str | os.PathLike) -> Path:
    """Write a PNG of the test force MAE (meV/Å) against the labelled structures of each
    round (rows of ``learn_report.csv``, `equipot.learn.read_report`), with the flagged
    fraction on a second axis."""
    figure, (axes,) = new_figure(size=(5.0, 3.8))
    labels = np.array([row["n_labelled"] for row in rows], dtype=float)
    errors = np.array([row.get("test_forces_mae", np.nan) for row in rows], dtype=float)
    axes.plot(labels, errors, "o-", color="C0", label="test force MAE")
    axes.set_xlabel("labelled structures")
    axes.set_ylabel("test force MAE (meV/Å)", color="C0")
    flagged = np.array([row.get("flagged_fraction", np.nan) for row in rows], dtype=float)
    twin = axes.twinx()
    twin.plot(labels, 100.0 * flagged, "s--", color="C1")
    twin.set_ylabel("flagged frames (%)", color="C1")
    axes.set_title("active learning")
    return save_figure(figure, path)
