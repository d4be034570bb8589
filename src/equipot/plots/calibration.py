"""Actual error against predicted uncertainty σ (log-log, with the line y = x)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ._figure import new_figure, save_figure

if TYPE_CHECKING:  # plots draw arrays; they import no computing layer at run time
    from ..evaluation.calibration import UncertaintyPairs

__all__ = ["calibration_plot"]

_LABELS = {
    "energy": "energy per structure",
    "forces": "forces per structure",
    "forces_per_atom": "force per atom",
    "stress": "stress per structure",
}


def calibration_plot(pairs: Mapping[str, UncertaintyPairs], path: str | os.PathLike) -> Path:
    """One panel per quantity: actual error against predicted σ (both in the quantity's
    unit, log-log), one point per structure (or atom), the line error = σ (where a
    calibrated σ puts the root mean square of the errors), and Spearman's ρ of the points drawn in the title.
    Points with σ or error of zero are left out (the count in the legend says how many
    are drawn). Returns the PNG path."""
    if not pairs:
        raise ValueError("calibration_plot: no quantities to plot")
    figure, panels = new_figure(1, len(pairs), size=(4.2, 4.0))
    for axes, (name, pair) in zip(panels, pairs.items()):
        sigma, error = np.asarray(pair.sigma, dtype=np.float64), np.asarray(pair.error, dtype=np.float64)
        shown = (sigma > 0) & (error > 0) & np.isfinite(sigma) & np.isfinite(error)
        if not shown.any():
            axes.text(0.5, 0.5, "σ or error is zero everywhere", ha="center", va="center", transform=axes.transAxes)
            continue
        x, y = sigma[shown], error[shown]
        alpha = float(np.clip(300.0 / x.size, 0.1, 0.8))
        axes.scatter(x, y, s=8, alpha=alpha, color="tab:blue", edgecolors="none", rasterized=True,
                     label=f"N = {x.size}")
        low, high = float(min(x.min(), y.min())) / 1.5, float(max(x.max(), y.max())) * 1.5
        axes.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--", label="error = σ")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlim(low, high)
        axes.set_ylim(low, high)
        axes.set_aspect("equal")
        axes.set_xlabel(f"predicted σ ({pair.estimator}) [{pair.unit}]")
        axes.set_ylabel(f"actual error [{pair.unit}]")
        rho = stats.spearmanr(x, y).statistic if x.size > 1 and np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
        axes.set_title(f"{_LABELS.get(name, name)}\nSpearman ρ = {rho:.2f}", fontsize=10)
        axes.legend(loc="upper left", fontsize=8)
    return save_figure(figure, path)
