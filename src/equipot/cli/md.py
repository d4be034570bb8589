"""``equipot md``: molecular dynamics (NVE, NVT, NPT) with a model; trajectory, CSV log, plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..inference import keep_freed_memory
from ..simulate import (
    EnsembleSettings,
    ExtrapolationError,
    MDResult,
    UncertaintyMonitor,
    load_calculator,
    plot_md,
    read_structure,
    run_md,
)
from ._console import (
    CompileOption,
    ExportedOption,
    ProgressOption,
    console,
    error_console,
    follows_progress_option,
    user_errors,
)


def _summary_table(result: MDResult, title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("ensemble", result.ensemble.upper())
    table.add_row("steps x time step", f"{result.steps} x {result.timestep_fs:g} fs")
    table.add_row("mean temperature, last half (K)", f"{result.mean_over_last('temperature_K'):.1f}")
    if result.ensemble == "nve":
        table.add_row("energy drift (eV/atom/ps)", f"{result.drift_per_atom_per_ps:.3e}")
        table.add_row("energy fluctuation (eV/atom)", f"{result.fluctuation_per_atom:.3e}")
    elif not math.isnan(result.conserved_drift_per_atom_per_ps):
        table.add_row("conserved-quantity drift (eV/atom/ps)", f"{result.conserved_drift_per_atom_per_ps:.3e}")
    if result.volume_A3 is not None:
        table.add_row("mean volume, last half (Å³)", f"{result.mean_over_last('volume_A3'):.3f}")
        table.add_row("mean pressure, last half (GPa)", f"{result.mean_over_last('pressure_GPa'):.3f}")
    table.add_row("speed (ns/day)", f"{result.ns_per_day:.3g}")
    return table


def parse_timestep(text: str) -> float | str:
    """``--timestep``: a positive number of fs, or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--timestep must be a time step in fs (e.g. 0.5) or auto, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--timestep must be positive (fs) or auto, got {text!r}")
    return value


def describe_auto_timestep(estimate: dict) -> str:
    """One line: the time step ``--timestep auto`` chose and why."""
    return (
        f"time step (auto): {estimate['recommended_fs']:.3g} fs = {estimate['fraction']:g} x the velocity-Verlet "
        f"limit {estimate['stability_limit_fs']:.3g} fs (2/omega_max; highest mode {estimate['max_frequency_cm']:.0f} "
        f"cm^-1, period {estimate['period_fs']:.3g} fs; Hessian by {estimate['hessian_method']})"
    )


@user_errors
@follows_progress_option
def md(
    model: Annotated[Path, typer.Argument(help="model file (model.pt); a .pt2 export only with --exported")],
    structure: Annotated[Path, typer.Argument(help="starting structure, any file ASE reads (last frame)")],
    ensemble: Annotated[str, typer.Option(help="nve (velocity Verlet), nvt (thermostat) or npt (barostat)")] = "nve",
    steps: Annotated[int, typer.Option(help="number of MD steps")] = 1000,
    timestep: Annotated[
        str,
        typer.Option(help="time step (fs), or auto: 0.15 x the Verlet stability limit 2/omega_max from the Hessian of STRUCTURE"),
    ] = "1.0",
    temperature: Annotated[float, typer.Option(help="initial and target temperature (K)")] = 300.0,
    pressure: Annotated[float, typer.Option(help="NPT target pressure (GPa; 1 bar = 1e-4 GPa)")] = 0.0,
    friction: Annotated[float, typer.Option(help="Langevin friction (1/fs)")] = 0.01,
    thermostat: Annotated[str, typer.Option(help="NVT thermostat: langevin or nose-hoover")] = "langevin",
    barostat: Annotated[str, typer.Option(help="NPT barostat: mtk (Nose-Hoover chains) or langevin")] = "mtk",
    anisotropic: Annotated[bool, typer.Option(help="NPT: let the cell shape change, not only its volume")] = False,
    tdamp: Annotated[float, typer.Option(help="Nose-Hoover thermostat damping time (fs)")] = 100.0,
    pdamp: Annotated[float, typer.Option(help="barostat damping time (fs)")] = 1000.0,
    seed: Annotated[int, typer.Option(help="seed of the initial velocities and the Langevin noise")] = 0,
    log_every: Annotated[int, typer.Option(help="record (log, trajectory) every N steps")] = 10,
    out_dir: Annotated[Path, typer.Option(help="folder for trajectory, log, plot and summary")] = Path("md"),
    traj_format: Annotated[str, typer.Option(help="trajectory format: extxyz or traj")] = "extxyz",
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    dtype: Annotated[str | None, typer.Option(help="float32 or float64 (default: the model's)")] = None,
    compile: CompileOption = False,
    exported: ExportedOption = False,
    progress: ProgressOption = True,
    max_uncertainty: Annotated[
        float | None,
        typer.Option(help="flag a step whose largest forces_std (eV/Å) exceeds this (a model with uncertainty outputs)"),
    ] = None,
    on_extrapolation: Annotated[
        str | None,
        typer.Option(help="warn or stop when the model extrapolates (its flag or --max-uncertainty); frames go to OUT_DIR"),
    ] = None,
) -> None:
    """Run MD from STRUCTURE; write the trajectory, md_log.csv, md.png and md_summary.json."""
    if traj_format not in ("extxyz", "traj"):
        raise ValueError(f"--traj-format must be extxyz or traj, got {traj_format!r}")
    settings = EnsembleSettings(
        ensemble=ensemble, timestep_fs=parse_timestep(timestep), temperature_K=temperature, thermostat=thermostat,
        friction_per_fs=friction, tdamp_fs=tdamp, pressure_GPa=pressure, barostat=barostat,
        anisotropic=anisotropic, pdamp_fs=pdamp, seed=seed,
    )
    atoms = read_structure(structure)
    keep_freed_memory()  # a process of many model calls: reuse their buffers
    calculator = load_calculator(model, device=device, dtype=dtype, compile=compile, exported=exported)
    monitor = None
    if max_uncertainty is not None or on_extrapolation is not None:
        atoms.calc = calculator
        monitor = UncertaintyMonitor(
            atoms, max_uncertainty, on_extrapolation or "warn", frames_file=out_dir / "extrapolating_frames.xyz"
        )
    try:
        result = run_md(
            atoms, calculator, settings, steps, trajectory=out_dir / f"trajectory.{traj_format}",
            log_file=out_dir / "md_log.csv", log_every=log_every, progress=progress, monitor=monitor,
        )
    except ExtrapolationError as error:  # a stop the user asked for: their message, exit code 3
        assert monitor is not None
        (out_dir / "uncertainty_summary.json").write_text(json.dumps(monitor.summary(), indent=2) + "\n", encoding="utf-8")
        error_console.print(f"[bold red]stopped:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=3) from None
    plot = plot_md(result, out_dir / "md.png")
    summary = out_dir / "md_summary.json"
    record = result.to_dict(include_arrays=False)
    if monitor is not None:
        record["uncertainty"] = monitor.summary()
        console.print(f"largest uncertainty seen: {monitor.summary()['max_seen']}")
    summary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if result.timestep_estimate is not None:
        console.print(describe_auto_timestep(result.timestep_estimate))
    console.print(_summary_table(result, f"{ensemble.upper()} MD of {structure.name} with {model.name}"))
    if result.ensemble == "nve":
        console.print(f"energy drift: {result.drift_per_atom_per_ps:.3e} eV/atom/ps")
    console.print(f"trajectory: {result.trajectory}  log: {result.log_file}  plot: {plot}  summary: {summary}")
