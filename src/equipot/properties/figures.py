"""PNG figures of the property workflows (Agg canvas, no pyplot): phonon bands and DOS,
vibrational spectra."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..o3.voigt import VOIGT_NAMES
from ..plots._figure import new_figure, save_figure

__all__ = ["band_structure_plot", "dos_plot", "elastic_matrix_plot", "frequency_spectrum_plot", "pretty_label"]


def pretty_label(label: str) -> str:
    """``G`` / ``Gamma`` -> ``Γ``; other labels unchanged."""
    return "Γ" if label in ("G", "Gamma", "GAMMA", "\\Gamma") else label


def band_structure_plot(
    distances: Sequence[np.ndarray],
    frequencies: Sequence[np.ndarray],
    ticks: Sequence[float],
    labels: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Phonon bands: ``distances[s]`` [n_q] (1/Å) and ``frequencies[s]`` [n_q, n_branches]
    (THz) per segment ``s``; vertical lines at ``ticks`` labelled with ``labels``."""
    figure, (axes,) = new_figure(size=(6.0, 4.4))
    for distance, values in zip(distances, frequencies):
        axes.plot(distance, values, color="C0", linewidth=1.2)
    for tick in ticks:
        axes.axvline(tick, color="0.6", linewidth=0.6)
    axes.axhline(0.0, color="0.3", linewidth=0.6, linestyle=":")
    axes.set_xticks(list(ticks), [pretty_label(label) for label in labels])
    axes.set_xlim(float(distances[0][0]), float(distances[-1][-1]))
    axes.set_ylabel("frequency (THz)")
    axes.set_title(title)
    return save_figure(figure, path)


def dos_plot(frequencies: np.ndarray, dos: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """Phonon density of states: ``frequencies`` [n] THz, ``dos`` [n] states/THz per cell."""
    figure, (axes,) = new_figure(size=(4.8, 3.6))
    axes.plot(frequencies, dos, color="C1")
    axes.fill_between(frequencies, dos, color="C1", alpha=0.25)
    axes.set_xlabel("frequency (THz)")
    axes.set_ylabel("DOS (states/THz)")
    axes.set_ylim(bottom=0.0)
    axes.set_title(title)
    return save_figure(figure, path)


def frequency_spectrum_plot(
    frequencies_cm: np.ndarray, path: str | os.PathLike, reference_cm: np.ndarray | None = None, title: str = ""
) -> Path:
    """Stick spectrum of harmonic frequencies (cm^-1; imaginary ones, negative, in red),
    optionally with reference frequencies drawn below the axis."""
    figure, (axes,) = new_figure(size=(6.0, 3.2))
    frequencies_cm = np.asarray(frequencies_cm)
    real = frequencies_cm[frequencies_cm >= 0]
    imaginary = frequencies_cm[frequencies_cm < 0]
    axes.vlines(real, 0.0, 1.0, color="C0", label="model")
    if imaginary.size:
        axes.vlines(imaginary, 0.0, 1.0, color="C3", label="imaginary")
    if reference_cm is not None:
        axes.vlines(np.asarray(reference_cm), -1.0, 0.0, color="C2", label="reference")
        axes.legend(loc="upper left")
    axes.axhline(0.0, color="0.3", linewidth=0.6)
    axes.set_yticks([])
    axes.set_xlabel("frequency (cm$^{-1}$)")
    axes.set_title(title)
    return save_figure(figure, path)


def elastic_matrix_plot(matrix: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """The 6x6 Voigt elastic matrix (GPa) as an annotated heat map."""
    matrix = np.asarray(matrix)
    figure, (axes,) = new_figure(size=(5.0, 4.4))
    limit = max(float(np.abs(matrix).max()), 1e-12)
    image = axes.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (i, j), value in np.ndenumerate(matrix):
        axes.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8)
    ticks = list(range(6))
    axes.set_xticks(ticks, VOIGT_NAMES)
    axes.set_yticks(ticks, VOIGT_NAMES)
    figure.colorbar(image, ax=axes, label="C (GPa)")
    axes.set_title(title)
    return save_figure(figure, path)
