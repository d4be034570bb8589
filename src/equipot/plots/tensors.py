"""Parity plots of vector and tensor targets, one panel per Cartesian component."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from ._figure import mae_rmse, new_figure, save_figure

__all__ = ["MAX_COMPONENT_PANELS", "component_labels", "tensor_parity_plot"]

#: tensors with more components than this are drawn as one pooled panel
MAX_COMPONENT_PANELS = 9


def component_labels(shape: tuple[int, ...]) -> list[str]:
    """``(3,)`` -> ``x y z``; ``(3, 3)`` -> ``xx xy ... zz``; other sizes: flat indices."""
    if shape and all(size == 3 for size in shape):
        return ["".join(p) for p in itertools.product("xyz", repeat=len(shape))]
    return [str(index) for index in range(int(np.prod(shape, dtype=int)))]


def tensor_parity_plot(
    reference: np.ndarray, predicted: np.ndarray, path: str | os.PathLike, quantity: str, unit: str = ""
) -> Path:
    """Predicted against reference values of a per-structure (or per-atom) tensor target.

    ``reference`` and ``predicted`` [n, ...] (e.g. a dipole [n, 3], a polarizability
    [n, 3, 3]) in ``unit``. Each component gets its own panel (x, y, z; xx, xy, ...) with
    the line y = x and its MAE/RMSE; tensors of more than `MAX_COMPONENT_PANELS` components
    (and scalars) are drawn in one panel. Returns the PNG path.
    """
    reference = np.asarray(reference, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if reference.shape != predicted.shape or reference.size == 0:
        raise ValueError(f"tensor_parity_plot: shapes {reference.shape} and {predicted.shape} must match and be non-empty")
    n = reference.shape[0]
    components = reference.reshape(n, -1).shape[1]
    pooled = components == 1 or components > MAX_COMPONENT_PANELS
    labels = ["all components"] if pooled else component_labels(reference.shape[1:])
    columns = 1 if pooled else min(components, 3)
    rows = 1 if pooled else -(-components // 3)
    figure, axes = new_figure(rows, columns, size=(3.4, 3.2))
    x_all, y_all = reference.reshape(n, -1), predicted.reshape(n, -1)
    shown = f" ({unit})" if unit else ""
    for index, (panel, label) in enumerate(zip(axes, labels)):
        x = x_all.reshape(-1) if pooled else x_all[:, index]
        y = y_all.reshape(-1) if pooled else y_all[:, index]
        low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        pad = 0.05 * (high - low) if high > low else 1.0
        panel.scatter(x, y, s=6, alpha=float(np.clip(300.0 / x.size, 0.15, 0.8)), edgecolors="none", rasterized=True)
        panel.plot([low - pad, high + pad], [low - pad, high + pad], color="black", linewidth=0.8, linestyle="--")
        panel.set_xlim(low - pad, high + pad)
        panel.set_ylim(low - pad, high + pad)
        mae, rmse = mae_rmse(y - x)
        panel.set_title(f"{quantity} {label}\nMAE {mae:.3g}, RMSE {rmse:.3g}{shown}", fontsize=8)
        panel.set_xlabel(f"reference{shown}", fontsize=8)
        panel.set_ylabel(f"predicted{shown}", fontsize=8)
    for panel in axes[len(labels) :]:
        panel.set_visible(False)
    return save_figure(figure, path)
