"""Evaluation of a potential on labelled structures: predictions, references, error
metrics and tables.

    from equipot.evaluation import evaluate_file, format_metrics_table
    result = evaluate_file("model.pt", "test.xyz")
    print(result.metrics["forces_mae"])          # meV/Å
    rich.print(format_metrics_table(result.metrics))

Metric names and units (`metrics`) are the same in training logs and in evaluations.
See docs/evaluation.md.
"""

from .calibration import (
    CalibrationLine,
    UncertaintyPairs,
    calibration_report,
    collect_uncertainties,
    format_calibration_table,
    gaussian_nll,
    miscalibration_area,
    spearman_correlation,
)
from .evaluate import EvaluationResult, compute_metrics, evaluate_file, evaluate_model
from .labels import graph_labels, outputs_for_labels
from .metrics import METRIC_UNITS, array_metrics, column_name, error_metrics, metric_names, unit_suffix
from .tables import format_metrics_table
from .target_values import TargetValues

__all__ = [
    "METRIC_UNITS",
    "CalibrationLine",
    "EvaluationResult",
    "TargetValues",
    "UncertaintyPairs",
    "array_metrics",
    "calibration_report",
    "collect_uncertainties",
    "column_name",
    "compute_metrics",
    "error_metrics",
    "evaluate_file",
    "evaluate_model",
    "format_calibration_table",
    "format_metrics_table",
    "gaussian_nll",
    "graph_labels",
    "metric_names",
    "miscalibration_area",
    "outputs_for_labels",
    "spearman_correlation",
    "unit_suffix",
]
