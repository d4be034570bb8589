"""``equipot relax``: relax positions (and optionally the cell) with a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import ase.io
import typer
from rich.table import Table

from ..inference import keep_freed_memory
from ..simulate import RelaxResult, load_calculator, read_structure
from ..simulate import relax as relax_structure
from ._console import (
    CompileOption, ExportedOption, ProgressOption, console, error_console, follows_progress_option, user_errors, working,
)
from ._uncertainty import MaxUncertaintyOption, OnExtrapolationOption, build_monitor, print_largest, stop_on_extrapolation


def _summary_table(result: RelaxResult, title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("converged", "yes" if result.converged else "[bold yellow]no[/]")
    table.add_row("optimizer steps", f"{result.steps} ({result.optimizer})")
    table.add_row("energy initial -> final (eV)", f"{result.initial_energy:.6f} -> {result.final_energy:.6f}")
    table.add_row("max force (eV/Å)", f"{result.max_force:.4f} (tolerance {result.fmax:g})")
    if result.pressure_GPa is not None:
        table.add_row("pressure (GPa)", f"{result.pressure_GPa:.4f}")
    if result.relax_cell and result.max_stress_error_GPa is not None:
        error = result.max_stress_error_GPa
        table.add_row("max stress error (GPa)", f"{error:.4f} (tolerance {result.stress_tol_GPa:g})")
    if result.initial_volume is not None and result.final_volume is not None:
        table.add_row("volume initial -> final (Å³)", f"{result.initial_volume:.3f} -> {result.final_volume:.3f}")
    return table


@user_errors
@follows_progress_option
def relax(
    model: Annotated[Path, typer.Argument(help="model file (model.pt); a .pt2 export only with --exported")],
    structure: Annotated[Path, typer.Argument(help="structure to relax, any file ASE reads (last frame)")],
    cell: Annotated[bool, typer.Option("--cell", help="also relax the cell (3D-periodic structures)")] = False,
    fmax: Annotated[float, typer.Option(help="force tolerance (eV/Å)")] = 0.05,
    stress_tol: Annotated[float, typer.Option(help="stress tolerance with --cell (GPa)")] = 0.1,
    pressure: Annotated[float, typer.Option(help="external pressure with --cell (GPa)")] = 0.0,
    hydrostatic: Annotated[bool, typer.Option(help="with --cell: keep the cell shape, change the volume")] = False,
    optimizer: Annotated[str, typer.Option(help="FIRE, BFGS or LBFGS")] = "FIRE",
    max_steps: Annotated[int, typer.Option(help="at most this many optimizer steps")] = 1000,
    output: Annotated[Path, typer.Option(help="relaxed structure (extxyz, with energy, forces, stress)")] = Path(
        "relaxed.xyz"
    ),
    trajectory: Annotated[Path | None, typer.Option(help="every step as .xyz/.extxyz or .traj")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    dtype: Annotated[str | None, typer.Option(help="float32 or float64 (default: the model's)")] = None,
    compile: CompileOption = False,
    exported: ExportedOption = False,
    progress: ProgressOption = True,
    max_uncertainty: MaxUncertaintyOption = None,
    on_extrapolation: OnExtrapolationOption = None,
) -> None:
    """Relax STRUCTURE to --fmax (and --stress-tol with --cell); write the relaxed structure."""
    atoms = read_structure(structure)
    keep_freed_memory()  # a process of many model calls: reuse their buffers
    calculator = load_calculator(model, device=device, dtype=dtype, compile=compile, exported=exported)
    # flagged frames and uncertainty_summary.json go next to the relaxed structure
    monitor = build_monitor(atoms, calculator, max_uncertainty, on_extrapolation, output.parent)
    with stop_on_extrapolation(monitor, output.parent), working(
        f"relaxing {structure.name} ({optimizer}, at most {max_steps} steps)"
    ):
        result = relax_structure(
            atoms, calculator, fmax=fmax, relax_cell=cell, stress_tol_GPa=stress_tol, pressure_GPa=pressure,
            hydrostatic_strain=hydrostatic, optimizer=optimizer, max_steps=max_steps, trajectory=trajectory,
            monitor=monitor,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(output, result.atoms, format="extxyz")
    console.print(_summary_table(result, f"relaxation of {structure.name} with {model.name}"))
    print_largest(monitor)
    if not result.converged:
        error_console.print(f"[bold yellow]warning:[/] not converged after {result.steps} steps; "
                            "raise --max-steps or loosen --fmax/--stress-tol", highlight=False)
    console.print(f"relaxed structure: {output}" + (f"  trajectory: {trajectory}" if trajectory else ""))
