"""``equipot elastic``: the 6x6 elastic tensor and bulk/shear moduli."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from ..data import read_structure
from ..potential_files import load_potential
from ..o3 import VOIGT_NAMES
from ..properties import elastic_tensor, write_elastic_files
from ._console import ProgressOption, console, error_console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def elastic(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    structure: Annotated[Path, typer.Argument(help="relaxed periodic cell readable by ASE")],
    relax_ions: Annotated[bool, typer.Option(help="relax the atoms at each strained cell")] = True,
    strain: Annotated[float, typer.Option(help="strain step of the central differences")] = 0.005,
    fmax: Annotated[float, typer.Option(help="force tolerance of the ionic relaxations (eV/Å)")] = 1e-4,
    out_dir: Annotated[Path, typer.Option(help="folder for elastic.json/csv/png")] = Path("elastic"),
    progress: ProgressOption = True,
) -> None:
    """C_ij (GPa) from central differences of the model stress; Voigt/Reuss/Hill moduli; symmetry checked."""
    potential = load_potential(model, dtype=torch.float64)
    atoms = read_structure(structure)
    # the checks' messages are printed below
    with warnings.catch_warnings(), working(f"strained cells of {structure.name}"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = elastic_tensor(potential, atoms, strain=strain, relax_ions=relax_ions, fmax=fmax)
    kind = "relaxed ions" if relax_ions else "clamped ions"
    table = Table(title=f"{structure.name}: elastic constants C_ij (GPa, {kind})")
    table.add_column("")
    for name in VOIGT_NAMES:
        table.add_column(name, justify="right")
    for name, row in zip(VOIGT_NAMES, result.matrix):
        table.add_row(name, *(f"{value:.2f}" for value in row))
    console.print(table)
    moduli = Table(title="moduli (GPa)")
    for column in ("", "Voigt", "Reuss", "Hill"):
        moduli.add_column(column, justify="right")
    for name in ("bulk", "shear"):
        values = [result.moduli.get(f"{name}_{bound}", float("nan")) for bound in ("voigt", "reuss", "hill")]
        moduli.add_row(name, *(f"{value:.2f}" for value in values))
    console.print(moduli)
    console.print(f"max |C_ij - C_ji| = {result.max_asymmetry:.3g} GPa")
    for message in result.messages:
        error_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    files = write_elastic_files(result, out_dir)
    console.print("wrote " + ", ".join(str(path) for path in files.values()))
