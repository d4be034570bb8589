"""``equipot train``: fit a potential from a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import default_config_yaml
from ..train import fit
from ._console import ProgressOption, console, follows_progress_option, user_errors


@user_errors
@follows_progress_option
def train(
    config: Annotated[
        Path | None, typer.Argument(help="YAML config (see --print-default-config), or a run folder to resume")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in the config's output_dir from its last checkpoint")] = False,
    print_default_config: Annotated[bool, typer.Option(help="print a commented default config and exit")] = False,
    progress: ProgressOption = True,
) -> None:
    """Train a potential: progress, checkpoints, metrics.csv, learning_curve.png and model.pt."""
    if print_default_config:
        typer.echo(default_config_yaml(), nl=False)
        return
    if config is None:
        raise ValueError("give a config file (equipot train config.yaml); start from equipot train --print-default-config")
    result = fit(config, resume=resume)
    console.print(f"model: {result.best_model_path} (best epoch {result.best_epoch} of {result.epochs_trained})")
    metrics = {"valid": result.valid_metrics, "test": result.test_metrics or {}}
    for split, values in metrics.items():
        if values:
            console.print(
                f"{split}: energy MAE {values.get('energy_per_atom_mae', float('nan')):.2f} meV/atom, "
                f"forces MAE {values.get('forces_mae', float('nan')):.1f} meV/Å"
                + (f", stress MAE {values['stress_mae']:.2f} meV/Å³" if "stress_mae" in values else "")
            )
    console.print(f"metrics: {result.metrics_path}; learning curve: {result.learning_curve_path}")
