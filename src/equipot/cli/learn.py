"""``equipot learn``: the active-learning loop (thin: load the config, run, plot, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..learn import LearnHooks, LearnState, run_active_learning
from ..plots.active_learning import plot_learning_report
from ._console import console, user_errors


@user_errors
def learn(
    config: Annotated[Path, typer.Argument(help="active-learning config (YAML), see docs/active_learning.md")],
    resume: Annotated[bool, typer.Option("--resume", help="carry on a stopped or killed run (nothing labelled twice)")] = False,
) -> None:
    """Active learning: train, explore with MD, label the uncertain frames, repeat until converged."""
    def on_round_end(state: LearnState) -> None:
        row = state.rows[-1]
        console.print(f"round {row['round']}: {row['n_labelled']} labelled, flagged "
                      f"{100 * row.get('flagged_fraction', float('nan')):.1f} %, test force MAE "
                      f"{row.get('test_forces_mae', float('nan')):.1f} meV/Å")

    result = run_active_learning(config, resume=resume, hooks=LearnHooks(on_round_end=on_round_end))
    plot = plot_learning_report(result.rows, result.output_dir / "learn_report.png")
    console.print(f"stopped: {result.stopped}; report {result.report_path}, plot {plot}, database {result.database}")
    if result.model_path is not None:
        console.print(f"model: {result.model_path}")
