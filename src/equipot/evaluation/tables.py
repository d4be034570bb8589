"""Error tables: evaluation metrics as a rich table, one row per quantity."""

from __future__ import annotations

from typing import Any

from .metrics import METRIC_UNITS

__all__ = ["format_metrics_table"]


def format_metrics_table(metrics: dict[str, Any], title: str | None = None, units: dict[str, str] | None = None) -> Any:
    """A `rich.table.Table` of ``metrics`` (from `compute_metrics`): one row per quantity,
    columns MAE, RMSE, unit and count; per-element force rows are indented under forces;
    further targets get a row each when ``units`` names them (name -> unit, e.g.
    ``{name: v.unit for name, v in result.targets.items()}``).

    Print with ``rich.print(table)``; ``str`` it through ``rich.console.Console`` for text.
    """
    from rich.table import Table

    if title is None:
        title = f"{metrics.get('n_structures', '?')} structures, {metrics.get('n_atoms', '?')} atoms"
    table = Table(title=title)
    for column in ("quantity", "MAE", "RMSE", "unit", "n"):
        table.add_column(column, justify="left" if column in ("quantity", "unit") else "right")

    def row(label: str, mae: float, rmse: float, unit: str, count: object) -> None:
        table.add_row(label, _number(mae), _number(rmse), unit, str(count))

    if "energy_per_atom_mae" in metrics:
        row("energy per atom", metrics["energy_per_atom_mae"], metrics["energy_per_atom_rmse"],
            METRIC_UNITS["energy_per_atom"], metrics.get("n_energy_structures", ""))
    if "forces_mae" in metrics:
        row("forces", metrics["forces_mae"], metrics["forces_rmse"], METRIC_UNITS["forces"], metrics.get("n_force_atoms", ""))
        for symbol, values in metrics.get("forces_by_element", {}).items():
            row(f"  forces {symbol}", values["mae"], values["rmse"], METRIC_UNITS["forces"], values["n_atoms"])
    if "stress_mae" in metrics:
        row("stress", metrics["stress_mae"], metrics["stress_rmse"], METRIC_UNITS["stress"],
            metrics.get("n_stress_structures", ""))
    for name, unit in (units or {}).items():
        if f"{name}_mae" in metrics:
            row(name, metrics[f"{name}_mae"], metrics[f"{name}_rmse"], unit, metrics.get(f"n_{name}", ""))
    return table


def _number(value: float) -> str:
    """Four significant digits, trailing zeros kept (``95.00``, ``1.912``, ``1234``)."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:#.4g}"
