"""``equipot vibrations``: harmonic frequencies and normal modes of a structure."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from ..data import read_structure
from ..potential_files import load_potential
from ..properties import newton_relax, write_vibration_files
from ..properties import vibrations as vibrational_modes
from ._console import ProgressOption, console, error_console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def vibrations(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    structure: Annotated[Path, typer.Argument(help="structure file readable by ASE (last frame is used)")],
    out_dir: Annotated[Path, typer.Option(help="folder for frequencies, modes and the spectrum plot")] = Path("vibrations"),
    delta: Annotated[float | None, typer.Option(help="finite-difference step (Å) instead of the exact Hessian")] = None,
    relax_fmax: Annotated[float | None, typer.Option(help="relax first (Newton, exact Hessian) to this fmax (eV/Å)")] = None,
    project: Annotated[bool, typer.Option(help="project out translations and rotations (Eckart)")] = False,
    progress: ProgressOption = True,
) -> None:
    """Frequencies (cm^-1, imaginary as negative) from the mass-weighted Hessian; zero-mode count checked."""
    potential = load_potential(model, dtype=torch.float64)
    atoms = read_structure(structure)
    if relax_fmax is not None:
        with working(f"relaxing {structure.name} (Newton)"):
            relaxed = newton_relax(potential, atoms, fmax=relax_fmax)
        console.print(f"relaxed in {relaxed.n_steps} Newton steps, fmax {relaxed.fmax_history[-1]:.2e} eV/Å")
        atoms = relaxed.atoms
    # the checks' messages are printed below
    with warnings.catch_warnings(), working(f"Hessian of {structure.name}"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = vibrational_modes(potential, atoms, delta=delta, project=project)
    table = Table(title=f"{structure.name}: {len(atoms)} atoms, {result.geometry}, Hessian {result.hessian_method}")
    table.add_column("mode", justify="right")
    table.add_column("frequency (cm^-1)", justify="right")
    for index, frequency in enumerate(result.frequencies_cm):
        # imaginary modes as "12.34i"; -0.00 printed as 0.00
        table.add_row(str(index), f"{-frequency:.2f}i" if frequency <= -0.005 else f"{abs(frequency):.2f}")
    console.print(table)
    console.print(f"zero modes: {result.n_zero_found} found, {result.n_zero_expected} expected")
    for message in result.messages:
        error_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    files = write_vibration_files(result, out_dir)
    console.print(f"wrote {files['frequencies.csv']}, {files['vibrations.json']}, {files['spectrum.png']} "
                  f"and {len(result.frequencies_cm)} mode animations in {out_dir / 'modes'}")
