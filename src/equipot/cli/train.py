"""``equipot train``: fit a potential from a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import default_config_yaml
from ..train import fit, fit_committee
from ._console import ProgressOption, console, follows_progress_option, user_errors


@user_errors
@follows_progress_option
def train(
    config: Annotated[
        Path | None, typer.Argument(help="YAML config (see --print-default-config), or a run folder to resume")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in the config's output_dir from its last checkpoint")] = False,
    print_default_config: Annotated[bool, typer.Option(help="print a commented default config and exit")] = False,
    committee: Annotated[
        int | None,
        typer.Option(help="train a committee of N models (seeds seed..seed+N-1), saved as output_dir/committee.pt"),
    ] = None,
    bootstrap: Annotated[bool, typer.Option(help="with --committee: each member trains on a bootstrap resample")] = False,
    parallel: Annotated[
        int | None, typer.Option(help="with --committee: members trained at once (default: one per CPU core)")
    ] = None,
    progress: ProgressOption = True,
) -> None:
    """Train a potential: progress, checkpoints, metrics.csv, learning_curve.png and model.pt.

    With --committee N: N members (seeds seed..seed+N-1) in output_dir/member_<i>/ and
    output_dir/committee.pt, whose std outputs say where the members disagree."""
    if print_default_config:
        typer.echo(default_config_yaml(), nl=False)
        return
    if config is None:
        raise ValueError("give a config file (equipot train config.yaml); start from equipot train --print-default-config")
    if committee is None and (bootstrap or parallel is not None):
        raise ValueError("--bootstrap and --parallel apply to committees; add --committee N (e.g. --committee 4)")
    if committee is not None:
        _train_committee(config, committee, bootstrap, parallel, resume)
        return
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


def _train_committee(config: Path, n_members: int, bootstrap: bool, parallel: int | None, resume: bool) -> None:
    result = fit_committee(config, n_members, bootstrap=bootstrap, parallel=parallel, resume=resume)
    for index, member in enumerate(result.members):
        values = member["test_metrics"] or member["valid_metrics"]
        split = "test" if member["test_metrics"] else "valid"
        console.print(
            f"member {index} (seed {member['seed']}): {member['model_path']}; {split} energy MAE "
            f"{values.get('energy_per_atom_mae', float('nan')):.2f} meV/atom, forces MAE "
            f"{values.get('forces_mae', float('nan')):.1f} meV/Å"
        )
    console.print(f"committee: {result.committee_path} ({n_members} members)")
    if result.scales:
        factors = ", ".join(f"{name} x{value:.3g}" for name, value in result.scales.items())
        console.print(f"spreads calibrated on the validation split: {factors}", highlight=False)
