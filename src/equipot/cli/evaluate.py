"""``equipot evaluate``: errors of a model on labelled structures, with parity plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..data import LabelKeys
from ..plots import write_evaluation_plots
from ..evaluation import evaluate_file, format_metrics_table
from ._console import ProgressOption, console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def evaluate(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    data: Annotated[Path, typer.Argument(help="labelled structures: .xyz/.extxyz(.gz), ASE .db, or shipped:NAME (e.g. shipped:ethanol)")],
    out_dir: Annotated[Path, typer.Option(help="folder for parity plots and the error histogram")] = Path(
        "evaluation"
    ),
    json_path: Annotated[Path | None, typer.Option("--json", help="also write metrics (and arrays) as JSON")] = None,
    energy_key: Annotated[str, typer.Option(help="label key of the energy (eV)")] = "energy",
    forces_key: Annotated[str, typer.Option(help="label key of the forces (eV/Å)")] = "forces",
    stress_key: Annotated[str, typer.Option(help="label key of the stress (eV/Å³)")] = "stress",
    target: Annotated[
        list[str] | None,
        typer.Option(help="label key of a model head's target, NAME=KEY (repeatable); default: the head's name"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="structures per batch")] = 16,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    progress: ProgressOption = True,
) -> None:
    """Energy per atom, forces (overall and per element), stress and head targets (dipole, ...)
    MAE/RMSE; parity plots as PNG."""
    keys = LabelKeys(energy=energy_key, forces=forces_key, stress=stress_key)
    target_keys = dict(item.split("=", 1) for item in target or [] if "=" in item)
    if len(target_keys) != len(target or []):
        raise typer.BadParameter("--target takes NAME=KEY, e.g. --target dipole=mu")
    with working(f"evaluating {model.name} on {data.name}"):
        result = evaluate_file(model, data, keys=keys, batch_size=batch_size, device=device, target_keys=target_keys)
    units = {name: values.unit for name, values in result.targets.items()}
    console.print(format_metrics_table(result.metrics, title=f"{model.name} on {data.name}", units=units))
    plots = write_evaluation_plots(result, out_dir)
    console.print("plots: " + ", ".join(str(p) for p in plots))
    if json_path is not None:
        result.to_json(json_path)
        console.print(f"metrics: {json_path}")
