"""Running error sums over a dataset during training (summable across processes).

`ErrorSums.metrics` reports ``loss`` (the weighted loss over the whole set, as in
training) and the MAE/RMSE of every term through `equipot.evaluation.metrics`, so training
logs and evaluations use the same names and units: ``energy_per_atom_mae`` (meV/atom),
``forces_mae`` (meV/Å), ``stress_mae`` (meV/Å³, over the six Voigt components), the
matching ``*_rmse``, and ``<name>_mae``/``_rmse`` for outputs of model heads in their unit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..evaluation.metrics import error_metrics
from ..o3.voigt import voigt_from_matrix
from .losses import TERMS, LossFunction, LossWeights

__all__ = ["ErrorSums"]

_ABS, _SQUARE, _COUNT, _PENALTY, _PENALTY_COUNT = range(5)


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
        for term, row in zip(self.terms, self.values):
            result.update(error_metrics(term, float(row[_ABS]), float(row[_SQUARE]), float(row[_COUNT])))
        return result
