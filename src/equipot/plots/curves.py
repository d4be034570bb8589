"""Curves over time: learning curves of a training run and energy traces of MD."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._figure import legend_outside, new_figure, save_figure

__all__ = ["curve_groups", "energy_trace_plot", "learning_curve", "read_metrics_csv"]

#: columns that count steps or time, never plotted as a metric
_X_COLUMNS = ("epoch", "step", "global_step", "time", "time_s", "wall_time", "wall_time_s", "elapsed_s")


def read_metrics_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of a metrics CSV (Lightning's ``CSVLogger`` format) as float arrays.

    Empty or non-numeric cells become NaN (Lightning leaves a cell empty in rows where that
    metric was not logged).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"learning curve: metrics file {path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"learning curve: {path} has no rows of metrics")

    def number(text: str | None) -> float:
        try:
            return float(text) if text not in (None, "") else np.nan
        except ValueError:
            return np.nan

    return {name: np.array([number(row.get(name)) for row in rows]) for name in rows[0]}


def _group(name: str) -> str:
    lowered = name.lower()
    if lowered == "lr" or lowered.startswith(("lr-", "lr_", "learning_rate")) or lowered.endswith("_lr"):
        return "learning rate"
    return "loss" if "loss" in lowered else "metrics"


def curve_groups(
    data: Mapping[str, np.ndarray], x: str | None, columns: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """The columns `learning_curve` draws, by panel (``loss``, ``metrics``, ``learning rate``).

    Default columns: every one with a finite value that is neither ``x`` nor a step or
    time counter (``epoch``, ``step``, ``wall_time_s``, ...).
    """
    names = list(columns) if columns is not None else [
        name for name in data if name not in _X_COLUMNS and name != x and np.isfinite(data[name]).any()
    ]
    missing = [name for name in names if name not in data]
    if missing:
        raise ValueError(f"learning curve: columns {missing} not found; columns are {sorted(data)}")
    if not names:
        raise ValueError(f"learning curve: no metric columns with values to plot (columns: {sorted(data)})")
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_group(name), []).append(name)
    return groups


def learning_curve(
    metrics: str | os.PathLike | Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    x: str | None = None,
    columns: Sequence[str] | None = None,
) -> Path:
    """Plot metrics against epoch (or step) on logarithmic y axes.

    ``metrics`` is a metrics CSV path (see `read_metrics_csv`) or a dict of equal-length
    columns. ``x`` names the abscissa column (default ``epoch``, else ``step``, else the row
    number). ``columns`` picks the curves (default: every column with a finite value that
    is not a step counter). Curves are grouped in panels: losses, other metrics (MAE,
    RMSE, ...) and learning rates. Values logged several times for one ``x`` (per-step
    rows within an epoch) are averaged. NaN cells are skipped. Returns the PNG path.
    """
    if isinstance(metrics, (str, os.PathLike)):
        data = read_metrics_csv(metrics)
    else:
        data = {name: np.asarray(values, dtype=np.float64).reshape(-1) for name, values in metrics.items()}
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"learning curve: columns have different lengths {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    if x is None:
        x = next((name for name in ("epoch", "step") if name in data), None)
    elif x not in data:
        raise ValueError(f"learning curve: x column {x!r} not found; columns are {sorted(data)}")
    abscissa = data[x] if x is not None else np.arange(n_rows, dtype=np.float64)
    groups = curve_groups(data, x, columns)
    order = [g for g in ("loss", "metrics", "learning rate") if g in groups]
    figure, axes = new_figure(1, len(order), size=(5.2, 4.0))
    for ax, group in zip(axes, order):
        positive = True
        for name in groups[group]:
            keep = np.isfinite(data[name]) & np.isfinite(abscissa)
            xs, inverse = np.unique(abscissa[keep], return_inverse=True)
            ys = np.bincount(inverse, weights=data[name][keep]) / np.bincount(inverse)
            positive &= bool(np.all(ys > 0))
            style = "steps-post" if group == "learning rate" else "default"
            ax.plot(xs, ys, marker="o" if xs.size < 30 else None, markersize=3, label=name, drawstyle=style)
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel(x or "row")
        ax.set_ylabel(group)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(figure, path)


def energy_trace_plot(
    times_fs: Sequence[float] | np.ndarray,
    energies: Mapping[str, Sequence[float] | np.ndarray],
    path: str | os.PathLike,
    n_atoms: int | None = None,
    title: str | None = None,
) -> Path:
    """Energies of an MD run against time, and the drift of the total energy.

    ``times_fs`` [n_frames] in fs; ``energies`` maps a label (``total``, ``potential``,
    ``kinetic``, ...) to [n_frames] energies in eV. The upper panel shows each curve in eV,
    with the potential and total energies shifted by the initial total energy so that all
    curves share one readable scale; the lower one the total energy minus its first value
    in meV (meV/atom when ``n_atoms`` is given). Without a ``total`` entry the total is
    ``potential + kinetic``.
    Returns the PNG path.
    """
    times = np.asarray(times_fs, dtype=np.float64).reshape(-1)
    curves = {label: np.asarray(values, dtype=np.float64).reshape(-1) for label, values in energies.items()}
    for label, values in curves.items():
        if values.shape != times.shape:
            raise ValueError(
                f"energy_trace_plot: energies[{label!r}] has {values.size} values for {times.size} times"
            )
    if times.size == 0:
        raise ValueError("energy_trace_plot: no frames to plot")
    total = curves.get("total")
    if total is None and {"potential", "kinetic"} <= set(curves):
        total = curves["potential"] + curves["kinetic"]
    figure, axes = new_figure(2 if total is not None else 1, 1, size=(6.4, 3.0))
    reference = float(total[0]) if total is not None else 0.0
    for label, values in curves.items():
        shifted = label in ("total", "potential") and total is not None
        axes[0].plot(times, values - reference if shifted else values, linewidth=1.2,
                     label=f"{label} - initial total" if shifted else label)
    axes[0].set_ylabel("energy (eV)")
    axes[0].set_xlabel("time (fs)")
    legend_outside(axes[0])
    axes[0].grid(True, alpha=0.3)
    axes[0].set_title(title or "NVE energies")
    if total is not None:
        per = float(n_atoms) if n_atoms else 1.0
        axes[1].plot(times, 1000.0 * (total - total[0]) / per, color="black", linewidth=1.0)
        axes[1].set_ylabel("total - initial (meV/atom)" if n_atoms else "total - initial (meV)")
        axes[1].set_xlabel("time (fs)")
        axes[1].grid(True, alpha=0.3)
    return save_figure(figure, path)
