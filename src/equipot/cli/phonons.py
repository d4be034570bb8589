"""``equipot phonons``: phonon band structure and DOS through phonopy."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from ..data import read_structure
from ..potential_files import load_potential
from ..properties import phonons as phonon_workflow
from ..properties.figures import pretty_label
from ..properties.stability import InstabilityWarning
from ..calculator import EquipotCalculator
from ._console import ProgressOption, console, error_console, follows_progress_option, user_errors, working
from ._uncertainty import MaxUncertaintyOption, OnExtrapolationOption, build_monitor, print_largest, stop_on_extrapolation


@user_errors
@follows_progress_option
def phonons(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    structure: Annotated[Path, typer.Argument(help="relaxed periodic cell readable by ASE")],
    supercell: Annotated[tuple[int, int, int], typer.Option(help="supercell repetitions")] = (3, 3, 3),
    out_dir: Annotated[Path, typer.Option(help="folder for band.yaml/csv, dos.csv and the plots")] = Path("phonons"),
    exact_hessian: Annotated[bool, typer.Option(help="force constants from the exact Hessian of the supercell")] = False,
    displacement: Annotated[float, typer.Option(help="finite displacement (Å) when not --exact-hessian")] = 0.01,
    progress: ProgressOption = True,
    max_uncertainty: MaxUncertaintyOption = None,
    on_extrapolation: OnExtrapolationOption = None,
) -> None:
    """Force constants from the model, bands along the standard path and DOS (THz), as PNG and data files."""
    potential = load_potential(model, dtype=torch.float64)
    atoms = read_structure(structure)
    monitor = build_monitor(atoms.copy(), EquipotCalculator(potential, device=potential.device), max_uncertainty,
                            on_extrapolation, out_dir)
    with stop_on_extrapolation(monitor, out_dir), warnings.catch_warnings(), working(
        f"phonons of {structure.name} in a {'x'.join(map(str, supercell))} supercell"
    ):
        warnings.simplefilter("ignore", InstabilityWarning)  # printed below
        result = phonon_workflow(potential, atoms, supercell=supercell, displacement=displacement, exact_hessian=exact_hessian,
                                 check=monitor.observe if monitor is not None else None)
    labels = sorted(result.special_points)
    frequencies = result.frequencies_at(labels)
    table = Table(title=f"{structure.name}: frequencies (THz) at the special points ({result.method})")
    table.add_column("q-point")
    table.add_column("reduced q")
    table.add_column("frequencies (THz)")
    for label, values in zip(labels, frequencies):
        q = " ".join(f"{x:.3f}" for x in result.special_points[label])
        table.add_row(pretty_label(label), q, " ".join(f"{f:.3f}" for f in values))
    console.print(table)
    if monitor is not None:
        console.print(f"uncertainty checked on: {result.checked[0]}" + (
            f" ... {result.checked[-1]} ({len(result.checked)} structures)" if len(result.checked) > 1 else ""),
            highlight=False, soft_wrap=True)
    print_largest(monitor)
    for message in result.messages:
        error_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    files = result.write_files(out_dir)
    console.print("wrote " + ", ".join(str(path) for path in files.values()))
