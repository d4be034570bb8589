"""Equal-budget accuracy report: learning curves over seeds and the final error table.

Reads ``benchmarks/results/accuracy/<dataset>/<run>/seed<k>/result.json`` (written by
``compare.py accuracy``; each holds the run's ``curve``, see ``curves.py``, and its test
and hot-set errors) and makes, per dataset,

- one PNG with every run's validation force MAE against wall-clock minutes: the mean over
  seeds (each seed's curve held at its last value, on a common time grid up to the
  shortest seed's last point) and the min-max band over seeds, each seed thin;
- a Markdown table: epochs, test energy / force MAE and hot-set force MAE, mean ± standard
  deviation over seeds.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np


def load_runs(dataset_dir: Path) -> dict[str, list[dict]]:
    """run name -> result JSONs of its seeds (failed runs included, with their ``error``)."""
    runs: dict[str, list[dict]] = {}
    for result in sorted(dataset_dir.glob("*/seed*/result.json")):
        runs.setdefault(result.parent.parent.name, []).append(json.loads(result.read_text()))
    for result in sorted(dataset_dir.glob("*/result.json")):  # runs from before --seeds: one seed
        runs.setdefault(result.parent.name, []).append(json.loads(result.read_text()))
    return runs


def curve_arrays(result: dict) -> tuple[np.ndarray, np.ndarray]:
    """(wall minutes, validation force MAE meV/Å) of one run's curve, in time order."""
    rows = sorted(result.get("curve") or [], key=lambda row: row["wall_s"])
    return np.array([row["wall_s"] / 60.0 for row in rows]), np.array([row["valid_forces_mae"] for row in rows])


def mean_band(curves: list[tuple[np.ndarray, np.ndarray]], n_points: int = 200):
    """Common time grid, mean, min and max over seeds (each curve held at its last value);
    None when a seed has no point. The grid runs from the latest first point to the
    earliest last point, where every seed has a value."""
    if not curves or any(len(t) == 0 for t, _ in curves):
        return None
    start, stop = max(t[0] for t, _ in curves), min(t[-1] for t, _ in curves)
    grid = np.linspace(start, stop, n_points) if stop > start else np.array([stop])
    held = np.array([mae[np.searchsorted(t, grid, side="right") - 1] for t, mae in curves])
    return grid, held.mean(axis=0), held.min(axis=0), held.max(axis=0)


def _hot(result: dict) -> float | None:
    extra = result.get("extra") or result.get("extra_test") or result.get("extra_tests") or {}
    return extra.get("hot", {}).get("forces_mev_per_a", {}).get("mae")


def _epochs(result: dict) -> float | None:
    for key in ("checkpoint_epoch", "epochs", "epochs_completed"):
        if result.get(key) is not None:
            return float(result[key])
    return None


def _mean_std(values: list[float | None], digits: int) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    if len(present) == 1:
        return f"{present[0]:.{digits}f}"
    return f"{statistics.mean(present):.{digits}f} ± {statistics.stdev(present):.{digits}f}"


def table_lines(dataset: str, runs: dict[str, list[dict]]) -> list[str]:
    """Markdown rows: one per run, mean ± std over the seeds that finished."""
    lines = []
    for run, results in runs.items():
        ok = [r for r in results if "test" in r and "error" not in r]
        failed = len(results) - len(ok)
        seeds = f"{len(ok)}" + (f" (+{failed} failed)" if failed else "")
        lines.append(
            f"| {dataset} | {run} | {seeds} | {_mean_std([_epochs(r) for r in ok], 1)} | "
            f"{_mean_std([r['test']['energy_mev_per_atom']['mae'] for r in ok], 2)} | "
            f"{_mean_std([r['test']['forces_mev_per_a']['mae'] for r in ok], 1)} | "
            f"{_mean_std([_hot(r) for r in ok], 1)} |"
        )
    return lines


TABLE_HEADER = [
    "| data | run | seeds | epochs | test energy MAE (meV/atom) | test force MAE (meV/Å) | hot force MAE (meV/Å) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
]


def plot_curves(dataset: str, runs: dict[str, list[dict]], path: Path) -> Path | None:
    """One PNG of the runs' validation force MAE against wall-clock minutes; None if no curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawn = False
    for index, (run, results) in enumerate(sorted(runs.items())):
        color = f"C{index}"
        curves = [curve_arrays(r) for r in results]
        curves = [c for c in curves if len(c[0])]
        for minutes, mae in curves:
            axes.plot(minutes, mae, color=color, lw=0.6, alpha=0.35, drawstyle="steps-post")
        band = mean_band(curves)
        if band is None:
            continue
        grid, mean, low, high = band
        axes.plot(grid, mean, color=color, lw=2, label=f"{run} ({len(curves)} seed{'s' * (len(curves) > 1)})")
        axes.fill_between(grid, low, high, color=color, alpha=0.15, lw=0)
        drawn = True
    if not drawn:
        return None
    axes.set_yscale("log")
    axes.set_xlabel("wall-clock time since launch (min)")
    axes.set_ylabel("validation force MAE (meV/Å)")
    axes.set_title(f"{dataset}: equal training budget")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def accuracy_report(accuracy_dir: Path, figures_dir: Path) -> list[str]:
    """Markdown lines of the table (all datasets) and the figure of each dataset."""
    lines = ["## Accuracy at equal training budget (mean ± std over seeds)", "", *TABLE_HEADER]
    figures = []
    for dataset_dir in sorted(p for p in accuracy_dir.glob("*") if p.is_dir()):
        runs = load_runs(dataset_dir)
        if not runs:
            continue
        lines += table_lines(dataset_dir.name, runs)
        figure = plot_curves(dataset_dir.name, runs, figures_dir / f"curves_{dataset_dir.name}.png")
        if figure is not None:
            figures.append(f"- {dataset_dir.name}: `{figure}`")
    return lines + (["", "Learning curves:", "", *figures] if figures else [])
