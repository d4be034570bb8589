"""Error sums over a dataset (summable across processes) and the metrics they give.

Metric names are those of `equipot.train.evaluation`: ``energy_per_atom_mae`` (meV/atom),
``forces_mae`` (meV/Å, over Cartesian components), ``stress_mae`` (meV/Å³, over the six
Voigt components), the matching ``*_rmse``, and ``loss`` (the weighted loss over the
whole set, as in training). Further targets (outputs of model heads) give ``<name>_mae``
and ``<name>_rmse`` over all their components, in the head's unit (e·Å for a dipole: no
meV scaling). `column_name` adds the unit for tables: ``forces_mae_meV_per_A``,
``dipole_mae_e_A``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from ..o3.voigt import voigt_from_matrix
from .losses import TERMS, LossFunction, LossWeights

__all__ = ["ErrorSums", "column_name", "metric_names", "unit_suffix"]

_PREFIX = {"energy": "energy_per_atom", "forces": "forces", "stress": "stress"}
_UNIT = {"energy_per_atom": "meV_per_atom", "forces": "meV_per_A", "stress": "meV_per_A3"}
_ABS, _SQUARE, _COUNT, _PENALTY, _PENALTY_COUNT = range(5)


def metric_names(term: str) -> tuple[str, str]:
    """``(mae name, rmse name)`` of a loss term (``energy`` -> ``energy_per_atom_mae``, ...)."""
    prefix = _PREFIX.get(term, term)
    return f"{prefix}_mae", f"{prefix}_rmse"


def unit_suffix(unit: str) -> str:
    """A unit as a column-name suffix: ``e·Å`` -> ``e_A``, ``Å³`` -> ``A3``, ``eV/Å`` -> ``eV_per_A``."""
    text = unit.replace("/", "_per_").replace("·", "_").replace("*", "_").replace("Å", "A")
    text = text.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")).replace("^", "").replace(" ", "_")
    return "".join(c for c in text if c.isalnum() or c == "_").strip("_")


def column_name(metric: str, units: Mapping[str, str] | None = None) -> str:
    """``metric`` with its unit appended (``forces_mae`` -> ``forces_mae_meV_per_A``);
    ``units`` gives the units of further targets by name (``{"dipole": "e·Å"}``)."""
    for prefix, unit in _UNIT.items():
        if metric.startswith(prefix + "_"):
            return f"{metric}_{unit}"
    for name, unit in (units or {}).items():
        if metric in (f"{name}_mae", f"{name}_rmse") and unit_suffix(unit):
            return f"{metric}_{unit_suffix(unit)}"
    return metric


class ErrorSums:
    """Running sums of absolute errors, squared errors and loss penalties per term.

    ``values`` [n_terms, 5] holds (sum |d|, sum d^2, count, sum penalty(d), penalty count)
    for energy per atom, force components, stress (|d| and d^2 over the six Voigt
    components, the penalty over the 3x3 tensor as in the loss) and each further target
    in ``terms`` (all components); sums from several processes add up (see `reduced`).
    Errors of terms not listed in ``terms`` are ignored.
    """

    def __init__(self, values: Tensor | None = None, terms: tuple[str, ...] = TERMS):
        self.terms = tuple(terms)
        self.values = torch.zeros(len(self.terms), 5, dtype=torch.float64) if values is None else values

    def add(self, errors: dict[str, Tensor], loss: LossFunction) -> None:
        """Accumulate the errors of one batch (see `prediction_errors`)."""
        for term, error in errors.items():
            if term not in self.terms:
                continue
            row = self.values[self.terms.index(term)]
            error = error.detach().to(torch.float64).cpu()
            row[_PENALTY] += loss.penalty(error).sum()
            row[_PENALTY_COUNT] += error.numel()
            if term == "stress":
                error = voigt_from_matrix(error)
            row[_ABS] += error.abs().sum()
            row[_SQUARE] += error.square().sum()
            row[_COUNT] += error.numel()

    def reduced(self, reduce_sum: Callable[[Tensor], Tensor]) -> ErrorSums:
        """The sums over all processes; ``reduce_sum`` all-reduces a tensor by summation."""
        return ErrorSums(reduce_sum(self.values.clone()).to(torch.float64).cpu(), self.terms)

    def loss(self, weights: LossWeights) -> float:
        """Weighted loss over everything accumulated (terms without data count as 0)."""
        total = 0.0
        for index, term in enumerate(self.terms):
            count = float(self.values[index, _PENALTY_COUNT])
            if weights[term] > 0 and count > 0:
                total += weights[term] * float(self.values[index, _PENALTY]) / count
        return total

    def metrics(self, weights: LossWeights) -> dict[str, float]:
        """``loss`` and MAE/RMSE (meV/atom, meV/Å, meV/Å³; further targets in their own
        unit) for every term with data."""
        result = {"loss": self.loss(weights)}
        for index, term in enumerate(self.terms):
            count = float(self.values[index, _COUNT])
            if count == 0:
                continue
            mae, rmse = metric_names(term)
            factor = 1000.0 if term in TERMS else 1.0
            result[mae] = factor * float(self.values[index, _ABS]) / count
            result[rmse] = factor * (float(self.values[index, _SQUARE]) / count) ** 0.5
        return result
