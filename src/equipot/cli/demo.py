"""``equipot demo``: the main job on shipped data, end to end.

Trains a small potential on the shipped GFN2-xTB ethanol frames, evaluates it on
held-out frames (table and parity plots), and runs a short NVE MD with it, reporting the
energy drift. Each step is one library call, as a user would write it in Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from ..calculator import EquipotCalculator
from ..data import atoms_from_graph
from ..models.io import load_model
from ..plots import energy_trace_plot, write_evaluation_plots
from ..simulate import run_nve
from ..train import fit, load_training_data
from ..train.presets import demo_config
from ..evaluation import evaluate_model, format_metrics_table
from ..train.run_files import RunPaths
from ._console import ProgressOption, console, follows_progress_option, user_errors


def demo_folder(requested: Path, resume: bool) -> tuple[Path, str]:
    """The folder a demo writes into, and a line that says which folder and why.

    With ``resume``: ``requested``, whose run continues (or starts, when it holds none).
    Otherwise ``requested`` when it does not exist or is empty, else the first of
    ``requested-2``, ``requested-3``, ... that does not exist: a second demo never
    overwrites the first.
    """
    holds_run = RunPaths(Path(demo_config(requested).output_dir)).last_checkpoint.is_file()
    if resume:
        line = f"resuming {requested}/" if holds_run else f"nothing to resume in {requested}/: a new run there"
        return requested, line
    if not requested.exists() or (requested.is_dir() and not any(requested.iterdir())):
        return requested, f"starting a new run in {requested}/"
    number = 2
    while (folder := requested.with_name(f"{requested.name}-{number}")).exists():
        number += 1
    why = "holds an earlier run: --resume continues it" if holds_run else "is not empty"
    return folder, f"starting a new run in {folder}/ ({requested}/ {why})"


@user_errors
@follows_progress_option
def demo(
    out_dir: Annotated[Path, typer.Option(help="folder for the run, plots and trajectory")] = Path("demo_output"),
    minutes: Annotated[float, typer.Option(help="training budget (minutes; with --resume, over all sessions)")] = 4.0,
    md_steps: Annotated[int, typer.Option(help="NVE steps of 0.5 fs")] = 2000,
    threads: Annotated[int, typer.Option(help="torch threads (CPU); 1 is fastest for this small model")] = 1,
    resume: Annotated[
        bool, typer.Option(help="continue the run in --out-dir (default: a new folder when it is taken)")
    ] = False,
    progress: ProgressOption = True,
) -> None:
    """Train on shipped ethanol (GFN2-xTB), evaluate on held-out frames, run NVE MD."""
    torch.set_num_threads(threads)
    out_dir, choice = demo_folder(out_dir, resume)
    console.print(choice, highlight=False)
    config = demo_config(out_dir, minutes)
    console.rule("1. training (shipped ethanol, GFN2-xTB, 500 K)")
    result = fit(config, resume=True)

    console.rule("2. evaluation on 300 held-out frames")
    model = load_model(result.best_model_path)
    test_set = load_training_data(config, model.cutoff).test
    assert test_set is not None
    evaluation = evaluate_model(model, test_set)
    console.print(format_metrics_table(evaluation.metrics, title="test set"))
    plots = write_evaluation_plots(evaluation, out_dir)

    console.rule(f"3. NVE molecular dynamics, {md_steps} x 0.5 fs, float64")
    atoms = atoms_from_graph(test_set[0])
    atoms.calc = EquipotCalculator(model, dtype=torch.float64)
    md = run_nve(atoms, atoms.calc, steps=md_steps, timestep_fs=0.5, temperature_K=300.0,
                 trajectory=out_dir / "nve.extxyz", log_every=10)
    energy_plot = energy_trace_plot(md.times_fs, md.energies, out_dir / "nve_energy.png", n_atoms=md.n_atoms)

    console.rule("summary")
    test = evaluation.metrics
    console.print(f"trained {result.epochs_trained} epochs; model: {result.best_model_path}")
    console.print(
        f"test energy MAE {test['energy_per_atom_mae']:.2f} meV/atom, force MAE {test['forces_mae']:.1f} meV/Å"
    )
    console.print(
        f"NVE: drift {md.drift_per_atom_per_ps:.2e} eV/atom/ps, fluctuation {md.fluctuation_per_atom:.2e} eV/atom "
        f"over {md.times_fs[-1] / 1000:.1f} ps"
    )
    console.print("plots: " + ", ".join(str(p) for p in [*plots, energy_plot, result.learning_curve_path]))
