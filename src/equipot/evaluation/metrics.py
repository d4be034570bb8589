"""Error metrics: their names, units and values, the same in training and evaluation.

| metric key                                | meaning                                    | unit      |
| ----------------------------------------- | ------------------------------------------ | --------- |
| ``energy_per_atom_mae`` / ``_rmse``       | total energy divided by the atom count     | meV/atom  |
| ``forces_mae`` / ``forces_rmse``          | over all Cartesian force components        | meV/Å     |
| ``stress_mae`` / ``stress_rmse``          | over the 6 Voigt components (xx yy zz yz xz xy) | meV/Å³ |
| ``<head>_mae`` / ``<head>_rmse``          | outputs of model heads (``dipole``, ...), all components | the head's (e·Å, Å³) |

Errors come in eV units (eV/atom, eV/Å, eV/Å³) and are reported in meV; outputs of
model heads keep their own unit. Both the running sums of training (`equipot.train.
ErrorSums`, summable across processes) and the arrays of an evaluation
(`array_metrics`, used by `evaluate.compute_metrics`) go through `error_metrics`. `column_name` adds the unit for tables:
``forces_mae_meV_per_A``, ``dipole_mae_e_A``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["METRIC_UNITS", "array_metrics", "column_name", "error_metrics", "metric_names", "unit_suffix"]

#: unit of each error metric (by the prefix of its name)
METRIC_UNITS: dict[str, str] = {
    "energy_per_atom": "meV/atom",
    "forces": "meV/Å",
    "stress": "meV/Å³",
}

_PREFIX = {"energy": "energy_per_atom", "forces": "forces", "stress": "stress"}
_COLUMN_UNIT = {"energy_per_atom": "meV_per_atom", "forces": "meV_per_A", "stress": "meV_per_A3"}


def metric_names(term: str) -> tuple[str, str]:
    """``(mae name, rmse name)`` of a term (``energy`` -> ``energy_per_atom_mae``, ...;
    a head's output ``dipole`` -> ``dipole_mae``)."""
    prefix = _PREFIX.get(term, term)
    return f"{prefix}_mae", f"{prefix}_rmse"


def error_metrics(term: str, abs_sum: float, square_sum: float, count: float) -> dict[str, float]:
    """MAE and RMSE of ``term`` (named by `metric_names`) from the sums of ``|d|`` and
    ``d^2`` over ``count`` errors ``d``: meV units for energy (per atom), forces and
    stress (``d`` in eV units), the head's own unit otherwise. Empty when ``count`` is 0."""
    if count == 0:
        return {}
    factor = 1000.0 if term in _PREFIX else 1.0
    mae, rmse = metric_names(term)
    return {mae: factor * float(abs_sum) / float(count), rmse: factor * (float(square_sum) / float(count)) ** 0.5}


def array_metrics(term: str, errors: np.ndarray) -> dict[str, float]:
    """`error_metrics` of the errors ``d`` in an array (all components)."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    return error_metrics(term, np.abs(errors).sum(), np.square(errors).sum(), errors.size)


def unit_suffix(unit: str) -> str:
    """A unit as a column-name suffix: ``e·Å`` -> ``e_A``, ``Å³`` -> ``A3``, ``eV/Å`` -> ``eV_per_A``."""
    text = unit.replace("/", "_per_").replace("·", "_").replace("*", "_").replace("Å", "A")
    text = text.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")).replace("^", "").replace(" ", "_")
    return "".join(c for c in text if c.isalnum() or c == "_").strip("_")


def column_name(metric: str, units: Mapping[str, str] | None = None) -> str:
    """``metric`` with its unit appended (``forces_mae`` -> ``forces_mae_meV_per_A``);
    ``units`` gives the units of further targets by name (``{"dipole": "e·Å"}``)."""
    for prefix, unit in _COLUMN_UNIT.items():
        if metric.startswith(prefix + "_"):
            return f"{metric}_{unit}"
    for name, unit in (units or {}).items():
        if metric in (f"{name}_mae", f"{name}_rmse") and unit_suffix(unit):
            return f"{metric}_{unit_suffix(unit)}"
    return metric
