"""``equipot evaluate``: errors of a model on labelled structures, with parity plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..data import LabelKeys
from ..plots import calibration_plot, write_evaluation_plots
from ..evaluation import (
    calibration_report,
    collect_uncertainties,
    evaluate_model,
    format_calibration_table,
    format_metrics_table,
)
from ..evaluation.calibration import uncertainty_outputs
from ..evaluation.evaluate import load_evaluation_inputs
from ._console import ProgressOption, console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def evaluate(
    model: Annotated[Path, typer.Argument(help="model file (model.pt) or committee file (committee.pt)")],
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
    uncertainty: Annotated[
        bool,
        typer.Option(help="also compare the predicted σ (energy_std, forces_std, ...: committees) with the "
                     "actual errors: Spearman ρ, miscalibration area, NLL, calibration.png"),
    ] = False,
    batch_size: Annotated[int, typer.Option(help="structures per batch")] = 16,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    progress: ProgressOption = True,
) -> None:
    """Energy per atom, forces (overall and per element), stress and head targets (dipole, ...)
    MAE/RMSE; parity plots as PNG. MODEL may be a committee file (committee.pt); with
    --uncertainty, how well its predicted σ tracks the actual errors."""
    keys = LabelKeys(energy=energy_key, forces=forces_key, stress=stress_key)
    target_keys = dict(item.split("=", 1) for item in target or [] if "=" in item)
    if len(target_keys) != len(target or []):
        raise typer.BadParameter("--target takes NAME=KEY, e.g. --target dipole=mu")
    with working(f"evaluating {model.name} on {data.name}"):
        potential, dataset = load_evaluation_inputs(model, data, keys=keys, device=device, target_keys=target_keys)
        if uncertainty:
            uncertainty_outputs(potential)  # refuse a model without σ before the long part
        result = evaluate_model(potential, dataset, batch_size=batch_size, device=device)
        pairs = collect_uncertainties(potential, dataset, batch_size, device) if uncertainty else None
    units = {name: values.unit for name, values in result.targets.items()}
    console.print(format_metrics_table(result.metrics, title=f"{model.name} on {data.name}", units=units))
    plots = write_evaluation_plots(result, out_dir)
    if pairs is not None:
        lines = calibration_report(pairs)
        console.print(format_calibration_table(lines, title=f"uncertainty of {model.name} on {data.name}"))
        plots.append(calibration_plot(pairs, out_dir / "calibration.png"))
        result.metrics["calibration"] = [line.to_dict() for line in lines]
    console.print("plots: " + ", ".join(str(p) for p in plots))
    if json_path is not None:
        result.to_json(json_path)
        console.print(f"metrics: {json_path}")
