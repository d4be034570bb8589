"""``equipot neb``: minimum energy path and barrier between two structures (climbing-image NEB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..inference import keep_freed_memory
from ..simulate import NEBResult, load_calculator, plot_minimum_energy_path, read_structure, run_neb
from ._console import (
    CompileOption, ExportedOption, ProgressOption, console, error_console, follows_progress_option, user_errors, working,
)
from ._uncertainty import MaxUncertaintyOption, OnExtrapolationOption, build_monitor, print_largest, stop_on_extrapolation


def _profile_table(result: NEBResult, title: str) -> Table:
    table = Table(title=title)
    table.add_column("image", justify="right")
    table.add_column("path (Å)", justify="right")
    table.add_column("E - E(initial) (eV)", justify="right")
    for index, (distance, energy) in enumerate(zip(result.path, result.relative_energies)):
        mark = " *" if index == result.highest_image else ""
        table.add_row(f"{index}{mark}", f"{distance:.3f}", f"{energy:.4f}")
    return table


@user_errors
@follows_progress_option
def neb(
    model: Annotated[Path, typer.Argument(help="model file (model.pt); a .pt2 export only with --exported")],
    initial: Annotated[Path, typer.Argument(help="initial state, any file ASE reads (last frame)")],
    final: Annotated[Path, typer.Argument(help="final state: same atoms in the same order, same cell")],
    images: Annotated[int, typer.Option(help="number of intermediate images")] = 7,
    climb: Annotated[bool, typer.Option(help="climbing image (the highest image goes to the saddle)")] = True,
    fmax: Annotated[float, typer.Option(help="force tolerance (eV/Å), band and end points")] = 0.05,
    spring: Annotated[float, typer.Option(help="spring constant between images (eV/Å²)")] = 0.1,
    method: Annotated[str, typer.Option(help="improvedtangent, aseneb, eb, spline or string")] = "improvedtangent",
    interpolate: Annotated[str, typer.Option(help="initial band: idpp or linear")] = "idpp",
    relax_endpoints: Annotated[bool, typer.Option(help="relax the end points first")] = True,
    optimizer: Annotated[str, typer.Option(help="FIRE, BFGS or LBFGS")] = "FIRE",
    max_steps: Annotated[int, typer.Option(help="at most this many optimizer steps")] = 500,
    out_dir: Annotated[Path, typer.Option(help="folder for mep.png, neb_images.extxyz, neb.json")] = Path("neb"),
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    dtype: Annotated[str | None, typer.Option(help="float32 or float64 (default: the model's)")] = None,
    compile: CompileOption = False,
    exported: ExportedOption = False,
    progress: ProgressOption = True,
    max_uncertainty: MaxUncertaintyOption = None,
    on_extrapolation: OnExtrapolationOption = None,
) -> None:
    """Nudged elastic band from INITIAL to FINAL: barrier, energy profile, mep.png and the images."""
    start, end = read_structure(initial), read_structure(final)
    keep_freed_memory()  # a process of many model calls: reuse their buffers
    calculator = load_calculator(model, device=device, dtype=dtype, compile=compile, exported=exported)
    monitor = build_monitor(start.copy(), calculator, max_uncertainty, on_extrapolation, out_dir)
    with stop_on_extrapolation(monitor, out_dir), working(
        f"nudged elastic band, {images} images ({optimizer}, at most {max_steps} steps)"
    ):
        result = run_neb(start, end, calculator, n_images=images, climb=climb, fmax=fmax, k=spring, method=method,
                         interpolate=interpolate, relax_endpoints=relax_endpoints, optimizer=optimizer,
                         max_steps=max_steps, monitor=monitor)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_minimum_energy_path(result, out_dir / "mep.png")
    frames = result.write_images(out_dir / "neb_images.extxyz")
    summary = out_dir / "neb.json"
    summary.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    console.print(_profile_table(result, f"minimum energy path, {initial.name} -> {final.name}"))
    print_largest(monitor)
    if result.reliable:
        console.print(f"barrier: {result.barrier_forward:.4f} eV forward, {result.barrier_backward:.4f} eV backward; "
                      f"reaction energy {result.reaction_energy:.4f} eV; highest image {result.highest_image}")
    else:
        error_console.print("[bold red]no barrier reported:[/] " + "; ".join(result.problems), highlight=False)
    if not result.converged:
        error_console.print(f"[bold yellow]warning:[/] band not converged after {result.steps} steps "
                            f"(max force {result.max_force:.3f} eV/Å > {fmax:g}); raise --max-steps", highlight=False)
    console.print(f"plot: {plot}  images: {frames}  summary: {summary}")
    if not result.reliable:
        raise typer.Exit(code=1)
