"""Parity plots and error histograms, and the set of plots written after an evaluation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase.data import chemical_symbols
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ._figure import mae_rmse, new_figure, save_figure
from .tensors import tensor_parity_plot

if TYPE_CHECKING:  # plots draw arrays; they import no computing layer at run time
    from ..evaluation import EvaluationResult

__all__ = ["error_histogram", "parity_plot", "write_evaluation_plots"]

#: above this many points a parity plot is a log-count hexbin instead of a scatter
MAX_SCATTER_POINTS = 5000


def _flat(name: str, values: object) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name} is empty: nothing to plot")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(array)))} NaN or infinite values")
    return array


def parity_plot(
    reference: np.ndarray,
    predicted: np.ndarray,
    path: str | os.PathLike,
    quantity: str,
    unit: str,
    *,
    error_scale: float = 1.0,
    error_unit: str | None = None,
    title: str | None = None,
    rows: str | None = None,
) -> Path:
    """Predicted against reference values with the line y = x; MAE, RMSE and count annotated.

    ``reference`` and ``predicted`` have the same shape (any; flattened), in ``unit``.
    Errors are annotated in ``error_unit`` after multiplying by ``error_scale`` (e.g.
    ``error_scale=1000, error_unit="meV/Å"`` for forces plotted in eV/Å). ``rows`` names
    what one row of ``reference`` is, so that the count reads as the error table's:
    ``rows="atoms"`` for forces [n_atoms, 3] gives ``N = 2700 atoms (8100 components)``,
    ``rows="structures"`` for energies [n] ``N = 300 structures``; without it, ``N`` counts
    the values. Up to
    `MAX_SCATTER_POINTS` points are drawn as a translucent scatter, more as a hexbin with a
    logarithmic count scale. Returns the PNG path.
    """
    reference, predicted = np.asarray(reference), np.asarray(predicted)
    if reference.shape != predicted.shape:
        raise ValueError(
            f"parity_plot: reference has shape {reference.shape} but predicted has {predicted.shape}"
        )
    x, y = _flat("reference", reference), _flat("predicted", predicted)
    figure, (axes,) = new_figure()
    low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    pad = 0.03 * (high - low) if high > low else max(abs(high), 1.0) * 0.05
    low, high = low - pad, high + pad
    if x.size > MAX_SCATTER_POINTS:
        cells = axes.hexbin(x, y, gridsize=80, bins="log", mincnt=1, cmap="viridis", extent=(low, high, low, high))
        figure.colorbar(cells, ax=axes, label="count", shrink=0.8)
    else:
        alpha = float(np.clip(300.0 / x.size, 0.15, 0.8))
        axes.scatter(x, y, s=10, alpha=alpha, color="tab:blue", edgecolors="none", rasterized=True)
    axes.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--", label="y = x")
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_aspect("equal")
    for axis in (axes.xaxis, axes.yaxis):  # long tick labels (-34.42) must not run into each other
        axis.set_major_locator(MaxNLocator(nbins=5))
    axes.set_xlabel(f"reference {quantity} ({unit})")
    axes.set_ylabel(f"predicted {quantity} ({unit})")
    axes.set_title(title or f"{quantity} parity")
    mae, rmse = mae_rmse((y - x) * error_scale)
    shown_unit = error_unit or unit
    axes.text(
        0.04, 0.96, f"MAE  = {mae:.4g} {shown_unit}\nRMSE = {rmse:.4g} {shown_unit}\n{_count(reference.shape, rows)}",
        transform=axes.transAxes, va="top", ha="left", family="monospace", fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"},
    )
    axes.legend(loc="lower right", fontsize=8)
    return save_figure(figure, path)


def _count(shape: tuple[int, ...], rows: str | None) -> str:
    """``N = 2700 atoms (8100 components)`` for ``shape`` (2700, 3) and ``rows`` "atoms"."""
    size = int(np.prod(shape, dtype=np.int64))
    if rows is None:
        return f"N = {size}"
    if len(shape) <= 1 or size == shape[0]:
        return f"N = {size} {rows}"
    return f"N = {shape[0]} {rows} ({size} components)"


def _draw_histogram(axes: Axes, errors: np.ndarray | Mapping[str, np.ndarray], quantity: str, unit: str, bins: int) -> None:
    """Overlaid step histograms of one or several error arrays on ``axes`` (log counts)."""
    series = dict(errors) if isinstance(errors, Mapping) else {quantity: errors}
    flat = {label: _flat(f"errors[{label!r}]", values) for label, values in series.items()}
    if not flat:
        raise ValueError("error_histogram: no error arrays given")
    everything = np.concatenate(list(flat.values()))
    limit = float(np.max(np.abs(everything))) or 1.0
    edges = np.linspace(-limit, limit, bins + 1)
    for label, values in flat.items():
        mae, _ = mae_rmse(values)
        axes.hist(values, bins=edges, histtype="step", linewidth=1.3, label=f"{label} (MAE {mae:.3g} {unit})".replace(" )", ")"))
    axes.axvline(0.0, color="black", linewidth=0.7)
    axes.set_yscale("log")
    low, high = axes.get_ylim()
    axes.set_ylim(low, high * (high / low) ** 0.4)  # empty room above the peak for the legend
    axes.set_xlabel(f"{quantity} error, predicted - reference ({unit})")
    axes.set_ylabel("count")
    axes.legend(loc="upper right", fontsize=8)


def error_histogram(
    errors: np.ndarray | Mapping[str, np.ndarray],
    path: str | os.PathLike,
    quantity: str = "error",
    unit: str = "",
    bins: int = 60,
) -> Path:
    """Histogram (log count) of ``errors`` = predicted - reference, in ``unit``.

    ``errors`` is one array (any shape, flattened) or a mapping label -> array, drawn as
    overlaid histograms with shared bins (e.g. force errors per element). Returns the PNG path.
    """
    figure, (axes,) = new_figure(size=(5.6, 4.0))
    _draw_histogram(axes, errors, quantity, unit, bins)
    return save_figure(figure, path)


def write_evaluation_plots(result: EvaluationResult, out_dir: str | os.PathLike) -> list[Path]:
    """Write the plots of an `EvaluationResult` into ``out_dir``; return their paths.

    Files (each only when the data set has that label): ``parity_energy.png`` (energy per
    atom, eV/atom), ``parity_forces.png`` (force components, eV/Å), ``parity_stress.png``
    (Voigt components, eV/Å³), ``parity_<name>.png`` for each target of a model head (one
    panel per component, in the head's unit), and ``error_histogram.png`` (one panel per
    quantity, in meV units or the head's; force errors split by element).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    panels: list[tuple[str, str, np.ndarray | dict[str, np.ndarray]]] = []
    if result.has_energy:
        written.append(parity_plot(
            result.energy_per_atom_reference, result.energy_per_atom_predicted, out_dir / "parity_energy.png",
            "energy per atom", "eV/atom", error_scale=1000.0, error_unit="meV/atom", rows="structures",
        ))
        panels.append(("energy per atom", "meV/atom",
                       1000.0 * (result.energy_per_atom_predicted - result.energy_per_atom_reference)))
    if result.has_forces:
        written.append(parity_plot(
            result.forces_reference, result.forces_predicted, out_dir / "parity_forces.png",
            "force component", "eV/Å", error_scale=1000.0, error_unit="meV/Å", rows="atoms",
        ))
        errors = 1000.0 * (result.forces_predicted - result.forces_reference)
        by_element = {
            chemical_symbols[int(z)]: errors[result.forces_atomic_numbers == z]
            for z in np.unique(result.forces_atomic_numbers)
        }
        panels.append(("force component", "meV/Å", by_element))
    if result.has_stress:
        written.append(parity_plot(
            result.stress_reference, result.stress_predicted, out_dir / "parity_stress.png",
            "stress component", "eV/Å³", error_scale=1000.0, error_unit="meV/Å³", rows="structures",
        ))
        panels.append(("stress component", "meV/Å³", 1000.0 * (result.stress_predicted - result.stress_reference)))
    for name, values in result.targets.items():  # outputs of model heads (dipole, ...)
        written.append(tensor_parity_plot(values.reference, values.predicted, out_dir / f"parity_{name}.png", name, values.unit))
        panels.append((name, values.unit, values.predicted - values.reference))
    if panels:
        figure, axes = new_figure(1, len(panels), size=(5.0, 4.0))
        for ax, (quantity, unit, errors) in zip(axes, panels):
            _draw_histogram(ax, errors, quantity, unit, bins=60)
        written.append(save_figure(figure, out_dir / "error_histogram.png"))
    return written
