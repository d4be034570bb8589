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
from ._console import ProgressOption, console, error_console, follows_progress_option, user_errors, working


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
) -> None:
    """Force constants from the model, bands along the standard path and DOS (THz), as PNG and data files."""
    potential = load_potential(model, dtype=torch.float64)
    atoms = read_structure(structure)
    with warnings.catch_warnings(), working(f"phonons of {structure.name} in a {'x'.join(map(str, supercell))} supercell"):
        warnings.simplefilter("ignore", InstabilityWarning)  # printed below
        result = phonon_workflow(potential, atoms, supercell=supercell, displacement=displacement, exact_hessian=exact_hessian)
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
    for message in result.messages:
        error_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    files = result.write_files(out_dir)
    console.print("wrote " + ", ".join(str(path) for path in files.values()))
