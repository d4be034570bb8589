"""``equipot hyperelastic``: learn a frame-indifferent strain-energy function W(C) from the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.table import Table

from ..data import read_structure
from ..potential_files import load_potential
from ..properties import elastic_tensor
from ..properties.constitutive import SYMMETRIES, fit_hyperelastic, stress_strain_data
from ._console import ProgressOption, console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def hyperelastic(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    structure: Annotated[Path, typer.Argument(help="relaxed periodic cell, crystal axes along x, y, z")],
    symmetry: Annotated[str, typer.Option(help="invariants of W: cubic or isotropic")] = "cubic",
    samples: Annotated[int, typer.Option(help="random strains of the training data")] = 200,
    max_strain: Annotated[float, typer.Option(help="largest strain component of the data")] = 0.03,
    hidden: Annotated[int, typer.Option(help="width of W's two hidden layers")] = 16,
    iterations: Annotated[int, typer.Option(help="L-BFGS iterations of the fit")] = 300,
    output: Annotated[Path, typer.Option(help="file of the learned law (load_hyperelastic)")] = Path("law.pt"),
    progress: ProgressOption = True,
) -> None:
    """Learn W(C) (GPa) from the model's stress-strain data; compare its C_ij with the model's; save the law."""
    if symmetry not in SYMMETRIES:
        raise ValueError(f"--symmetry must be one of {SYMMETRIES}, got {symmetry!r}")
    potential = load_potential(model, dtype=torch.float64)
    atoms = read_structure(structure)
    with working(f"{samples} strained cells of {structure.name}"):
        train = stress_strain_data(potential, atoms, n_samples=samples, max_strain=max_strain, seed=0)
        test = stress_strain_data(potential, atoms, n_samples=max(10, samples // 4), max_strain=max_strain, seed=1)
    with working("fitting W"):
        law = fit_hyperelastic(train, symmetry=symmetry, hidden=hidden, iterations=iterations)
    learned, direct = law.elastic_constants(), elastic_tensor(potential, atoms).matrix
    table = Table(title=f"{structure.name}: small-strain elastic constants (GPa)")
    for column in ("", "C11", "C12", "C44", "C33", "C13", "C66"):
        table.add_column(column, justify="right")
    pairs = [(0, 0), (0, 1), (3, 3), (2, 2), (0, 2), (5, 5)]
    table.add_row("learned W", *(f"{learned[i, j]:.1f}" for i, j in pairs))
    table.add_row("model (central differences)", *(f"{direct[i, j]:.1f}" for i, j in pairs))
    console.print(table)
    sigma = float(np.sqrt(np.mean((law.cauchy(test.F).numpy() - test.sigma) ** 2)))
    console.print(f"held-out stress RMSE {sigma:.3f} GPa over {len(test.F)} strains up to {max_strain:g}")
    console.print(f"wrote {law.save(output)} (load with equipot.properties.constitutive.load_hyperelastic)")
