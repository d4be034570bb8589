"""Calibration of predicted uncertainties: does the predicted σ track the actual error?

Inputs are pairs of arrays, one entry per structure (or per atom): the predicted standard
deviation ``sigma`` and the size of the actual error ``error`` (the norm of the error
vector of ``n_components`` components: 1 for an energy, 3 for the force on one atom,
3·n_atoms for all forces of a structure). ``sigma`` is the square root of the summed
variance over those components, as the ``*_std`` outputs of a `Committee` define it, so a
calibrated model has ``E[error²] = sigma²``.

The error model behind the miscalibration area and the NLL: each component of the error
is Gaussian with zero mean and variance ``sigma² / n_components``; then
``error / (sigma / sqrt(k))`` follows the chi distribution with ``k = n_components``
degrees of freedom (for ``k = 1``: the absolute value of a standard normal).

- `spearman_correlation`: rank correlation of sigma and error (1: the larger σ, the larger
  the error, always; 0: σ says nothing about which predictions are worse).
- `miscalibration_area`: the area between the observed and the expected fraction of
  errors inside the central interval of each probability (0: calibrated; at most 0.5).
- `gaussian_nll`: the mean negative log-likelihood of the error components (lower is
  better; it rewards a σ that is both calibrated and sharp).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from rich.table import Table
from scipy import stats
from torch import nn

from ..data import GraphDataset, batch_graphs
from ..models import Potential

__all__ = [
    "CalibrationLine",
    "UncertaintyPairs",
    "calibration_report",
    "collect_uncertainties",
    "format_calibration_table",
    "gaussian_nll",
    "miscalibration_area",
    "spearman_correlation",
    "uncertainty_outputs",
]

#: calibrated quantities: name -> (the model output giving sigma, unit, per atom)
QUANTITIES = {
    "energy": ("energy_std", "eV", False),
    "forces": ("forces_std", "eV/Å", False),
    "forces_per_atom": ("forces_std", "eV/Å", True),
    "stress": ("stress_std", "eV/Å³", False),
}


def _checked(sigma: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
    error = np.abs(np.asarray(error, dtype=np.float64).reshape(-1))
    if sigma.shape != error.shape:
        raise ValueError(f"sigma and error must have the same length, got {sigma.size} and {error.size}")
    if sigma.size == 0:
        raise ValueError("no (sigma, error) pairs to compare")
    if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(error))):
        raise ValueError("sigma and error must be finite numbers")
    return sigma, error


def spearman_correlation(sigma: np.ndarray, error: np.ndarray) -> float:
    """Spearman's rank correlation ρ of predicted σ and actual error [n] (-1..1; NaN when
    either is constant)."""
    sigma, error = _checked(sigma, error)
    if sigma.size < 2 or np.ptp(sigma) == 0 or np.ptp(error) == 0:
        return float("nan")
    return float(stats.spearmanr(sigma, error).statistic)


def miscalibration_area(sigma: np.ndarray, error: np.ndarray, n_components: int = 1, n_levels: int = 101) -> float:
    """Area between observed and expected coverage of the central intervals.

    For each probability ``p`` on a grid of ``n_levels`` points in [0, 1], the expected
    fraction of errors inside the interval that holds a fraction ``p`` of the error model
    (`error <= sigma / sqrt(k) * chi_k.ppf(p)`, see the module docstring; for ``k = 1``
    the Gaussian interval ±z σ with ``z = Phi^-1((1 + p) / 2)``) is ``p``; the observed
    fraction is counted. The area is ``∫_0^1 |observed(p) - p| dp`` (trapezoid rule): 0
    for calibrated σ, approaching 0.5 for σ far too small or far too large.
    """
    sigma, error = _checked(sigma, error)
    if np.any(sigma <= 0):
        raise ValueError("miscalibration_area needs sigma > 0 everywhere")
    levels = np.linspace(0.0, 1.0, n_levels)
    scaled = error / (sigma / np.sqrt(n_components))  # chi_k distributed if calibrated
    bounds = stats.chi(df=n_components).ppf(levels)
    observed = (scaled[None, :] <= bounds[:, None]).mean(axis=1)
    return float(np.trapezoid(np.abs(observed - levels), levels))


def gaussian_nll(sigma: np.ndarray, error: np.ndarray, n_components: int = 1) -> float:
    """Mean Gaussian negative log-likelihood per structure (or atom):
    ``k/2 · log(2π σ²/k) + k · error² / (2 σ²)`` with ``k = n_components`` (each
    component of the error has variance ``σ²/k``); for ``k = 1``:
    ``0.5 · log(2π σ²) + error² / (2 σ²)``. Natural log, in nats; σ and error in the same
    unit (the NLL depends on that unit through ``log σ``)."""
    sigma, error = _checked(sigma, error)
    if np.any(sigma <= 0):
        raise ValueError("gaussian_nll needs sigma > 0 everywhere")
    k = n_components
    variance = sigma**2 / k
    return float(np.mean(0.5 * k * np.log(2 * np.pi * variance) + error**2 / (2 * variance)))


@dataclass
class UncertaintyPairs:
    """Predicted σ and actual error of one quantity, per structure (or per atom).

    ``sigma``, ``error`` [n] in ``unit``; ``n_components`` [n] (int): the components each
    error norm runs over; ``estimator``: the model output that gave σ (``forces_std``, ...).
    """

    quantity: str
    estimator: str
    unit: str
    sigma: np.ndarray
    error: np.ndarray
    n_components: np.ndarray


@dataclass
class CalibrationLine:
    """Calibration of one quantity (see the module docstring). ``rms_error`` and
    ``rms_sigma`` in ``unit``; ``nll`` in nats with σ in ``unit``."""

    quantity: str
    estimator: str
    unit: str
    n: int
    rms_error: float
    rms_sigma: float
    spearman: float
    miscalibration_area: float
    nll: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN (undefined) becomes None."""
        return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in asdict(self).items()}


def calibration_report(pairs: dict[str, UncertaintyPairs]) -> list[CalibrationLine]:
    """A `CalibrationLine` per quantity. Entries with ``sigma = 0`` (e.g. identical
    members) are left out of the area and the NLL, which are undefined there (NaN if all are)."""
    lines = []
    for name, pair in pairs.items():
        positive = pair.sigma > 0
        area, nll = float("nan"), float("nan")
        if positive.any():
            groups = [(k, positive & (pair.n_components == k)) for k in np.unique(pair.n_components[positive])]
            # several atom counts: weight each group by its size
            area = sum(miscalibration_area(pair.sigma[m], pair.error[m], int(k)) * m.sum() for k, m in groups) / positive.sum()
            nll = sum(gaussian_nll(pair.sigma[m], pair.error[m], int(k)) * m.sum() for k, m in groups) / positive.sum()
        lines.append(
            CalibrationLine(
                quantity=name,
                estimator=pair.estimator,
                unit=pair.unit,
                n=int(pair.sigma.size),
                rms_error=float(np.sqrt(np.mean(pair.error**2))),
                rms_sigma=float(np.sqrt(np.mean(pair.sigma**2))),
                spearman=spearman_correlation(pair.sigma, pair.error),
                miscalibration_area=float(area),
                nll=float(nll),
            )
        )
    return lines


def uncertainty_outputs(model: Potential) -> dict[str, str]:
    """The ``*_std`` outputs ``model`` declares that can be calibrated against labels
    (energy, forces, stress): quantity -> output name. Raises ValueError if there are none."""
    specs = model.output_specs()
    found = {quantity: output for quantity, (output, _, _) in QUANTITIES.items() if output in specs}
    if not found:
        raise ValueError(
            f"{type(model).__name__} declares no uncertainty outputs (energy_std, forces_std, stress_std) in "
            "output_specs(); use a committee (equipot train config.yaml --committee 4 writes committee.pt)"
        )
    return found


def collect_uncertainties(
    model: Potential, dataset: GraphDataset, batch_size: int = 16, device: str | torch.device = "cpu"
) -> dict[str, UncertaintyPairs]:
    """Predicted σ and actual errors of ``model`` on the labelled structures of ``dataset``.

    Quantities (those the model has a ``*_std`` output for and the data have labels of):
    ``energy`` (per structure, eV: σ = ``energy_std``, error = ``|E - E_ref|``),
    ``forces`` (per structure, eV/Å: σ = ``sqrt(sum_i forces_std_i²)``, error = the norm
    of all the structure's force errors, 3·n_atoms components), ``forces_per_atom`` (per
    atom: σ = ``forces_std``, error = ``|F_i - F_i,ref|``, 3 components) and ``stress``
    (per periodic structure, eV/Å³: σ = ``stress_std``, error = the Frobenius norm of the
    3x3 error, 9 components, an approximation for a symmetric tensor).
    """
    found = uncertainty_outputs(model)
    graphs = dataset.graphs
    columns: dict[str, tuple[list[float], list[float], list[int]]] = {name: ([], [], []) for name in found}
    outputs = {"energy", "forces"} | set(found.values())
    if "stress" in found and any("stress" in g.graph_targets and bool(g.pbc.all()) for g in graphs):
        outputs.add("stress")
    module = model if isinstance(model, nn.Module) else None
    was_training = module is not None and module.training
    if module is not None:
        module.eval()
    try:
        for start in range(0, len(graphs), batch_size):
            chunk = graphs[start : start + batch_size]
            batch = batch_graphs(chunk).to(device=device, dtype=model.dtype)
            prediction = model(batch, outputs=outputs, create_graph=False)
            _collect_pairs(columns, chunk, prediction, batch.batch.cpu().numpy())
    finally:
        if module is not None:
            module.train(was_training)
    pairs = {}
    for name, (sigma, error, components) in columns.items():
        if sigma:
            output, unit, _ = QUANTITIES[name]
            pairs[name] = UncertaintyPairs(name, output, unit, np.array(sigma), np.array(error), np.array(components))
    if not pairs:
        raise ValueError(
            f"{dataset.source or 'the data'}: no energy, forces or stress labels to compare the predicted "
            f"uncertainties ({', '.join(sorted(set(found.values())))}) with"
        )
    return pairs


def _collect_pairs(columns: dict, chunk: list, prediction: Any, batch_index: np.ndarray) -> None:
    """Append (sigma, error, n_components) of the labelled quantities of ``chunk``."""
    numpy = {name: value.detach().cpu().double().numpy() for name, value in prediction.extra.items()}
    energy = prediction.energy.detach().cpu().double().numpy()
    forces = prediction.forces.detach().cpu().double().numpy()
    stress = None if prediction.stress is None else prediction.stress.detach().cpu().double().numpy()

    def add(name: str, sigma: float, error: float, components: int) -> None:
        if name in columns:
            columns[name][0].append(float(sigma))
            columns[name][1].append(float(error))
            columns[name][2].append(components)

    for index, graph in enumerate(chunk):
        atoms = batch_index == index
        if "energy" in graph.graph_targets and "energy_std" in numpy:
            add("energy", numpy["energy_std"][index], abs(energy[index] - float(graph.graph_targets["energy"])), 1)
        if "forces" in graph.atom_targets and "forces_std" in numpy:
            errors = np.linalg.norm(forces[atoms] - graph.atom_targets["forces"].double().numpy(), axis=1)
            sigmas = numpy["forces_std"][atoms]
            add("forces", np.sqrt(np.sum(sigmas**2)), np.sqrt(np.sum(errors**2)), 3 * int(atoms.sum()))
            for sigma, error in zip(sigmas, errors):
                add("forces_per_atom", sigma, error, 3)
        if "stress" in graph.graph_targets and stress is not None and "stress_std" in numpy and bool(graph.pbc.all()):
            difference = stress[index] - graph.graph_targets["stress"].double().numpy().reshape(3, 3)
            add("stress", numpy["stress_std"][index], np.linalg.norm(difference), 9)


def format_calibration_table(lines: list[CalibrationLine], title: str | None = None) -> Table:
    """A rich table of `calibration_report`'s lines (fits 80 columns); the caption names
    the outputs σ came from."""
    estimators = sorted({line.estimator for line in lines})
    table = Table(title=title, caption=f"σ from {', '.join(estimators)}; NLL in nats per entry")
    for column in ("quantity", "n", "RMS error", "RMS σ", "unit", "Spearman ρ", "miscal. area", "NLL"):
        table.add_column(column, justify="left" if column in ("quantity", "unit") else "right")
    for line in lines:
        table.add_row(
            line.quantity.replace("_per_atom", "/atom"), str(line.n), f"{line.rms_error:.3g}", f"{line.rms_sigma:.3g}",
            line.unit, f"{line.spearman:.2f}", f"{line.miscalibration_area:.3f}", f"{line.nll:.4g}",
        )
    return table
