"""Plots as PNG files: parity plots, error histograms, learning curves, MD energy traces.

Every function builds its own ``matplotlib.figure.Figure`` on an Agg canvas (no pyplot,
no display needed, the global backend untouched), writes a PNG, releases the figure and
returns the file's path.
"""

from .calibration import calibration_plot
from .curves import curve_groups, energy_trace_plot, learning_curve, read_metrics_csv
from .parity import MAX_SCATTER_POINTS, error_histogram, parity_plot, write_evaluation_plots
from .tensors import tensor_parity_plot

__all__ = [
    "MAX_SCATTER_POINTS",
    "calibration_plot",
    "curve_groups",
    "energy_trace_plot",
    "error_histogram",
    "learning_curve",
    "parity_plot",
    "read_metrics_csv",
    "tensor_parity_plot",
    "write_evaluation_plots",
]
