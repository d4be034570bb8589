"""``equipot surfaces``: surface energies from relaxed slabs, their anisotropy and the Wulff shape."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from ..data import read_structure
from ..potential_files import load_potential
from ..properties.surfaces import miller_label, parse_miller, plot_wulff, surface_energies
from ._console import ProgressOption, console, error_console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def surfaces(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    bulk: Annotated[Path, typer.Argument(help="relaxed bulk crystal readable by ASE (any cell: primitive or conventional)")],
    more_millers: Annotated[
        list[str] | None, typer.Argument(metavar="[MILLER]...", help="more Miller indices (--miller 100 110 111 works)")
    ] = None,
    miller: Annotated[
        list[str] | None,
        typer.Option(help="Miller indices of the conventional cell: --miller 100 110 111 (or 1-10, 1,1,0); default 100 110 111"),
    ] = None,
    thickness: Annotated[float, typer.Option(help="minimum slab thickness (Å)")] = 10.0,
    vacuum: Annotated[float, typer.Option(help="vacuum on each side of the slab (Å; more than the cutoff)")] = 10.0,
    fmax: Annotated[float, typer.Option(help="force tolerance of the slab relaxations (eV/Å)")] = 0.01,
    relax: Annotated[bool, typer.Option(help="relax the slabs (--no-relax: the cut surfaces)")] = True,
    out_dir: Annotated[Path, typer.Option(help="folder for surfaces.csv, surfaces.json and wulff.png")] = Path("surfaces"),
    progress: ProgressOption = True,
) -> None:
    """Surface energies (J/m²) of relaxed slabs for each --miller, the anisotropy and the Wulff shape (wulff.png)."""
    texts = [*(miller or []), *(more_millers or [])] or ["100", "110", "111"]
    indices = [parse_miller(text) for text in texts]
    potential = load_potential(model, dtype=torch.float64)
    atoms = read_structure(bulk)
    with warnings.catch_warnings(record=True) as caught, working(f"relaxing {len(indices)} slabs of {bulk.name}"):
        warnings.simplefilter("always", UserWarning)
        result = surface_energies(potential, atoms, indices, thickness=thickness, vacuum=vacuum, relax=relax, fmax=fmax)
    table = Table(title=f"{bulk.name}: surface energies with {model.name}")
    for column in ("(hkl)", "γ (J/m²)", "γ (eV/Å²)", "unrelaxed γ (J/m²)", "γ / γ_min", "Wulff area", "atoms",
                   "layers", "relaxed"):
        table.add_column(column, justify="right")
    fractions, anisotropy = result.area_fractions, result.anisotropy
    for item in result.surfaces:
        fraction = fractions.get(item.miller)
        table.add_row(f"({miller_label(item.miller)})", f"{item.gamma_J_m2:.4f}", f"{item.gamma_eV_A2:.5f}",
                      f"{item.unrelaxed_gamma_J_m2:.4f}", f"{anisotropy[item.miller]:.3f}",
                      "-" if fraction is None else f"{100 * fraction:.1f} %", str(item.n_atoms), str(item.n_layers),
                      ("yes" if item.converged else "NOT converged") if relax else "no")
    console.print(table)
    for warning in caught:
        error_console.print(f"[yellow]warning:[/] {warning.message}", highlight=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = result.to_dict()["surfaces"]
    with open(out_dir / "surfaces.csv", "w", newline="", encoding="utf-8") as handle:
        columns = ["miller", "gamma_J_m2", "gamma_eV_A2", "unrelaxed_gamma_J_m2", "anisotropy", "wulff_area_fraction",
                   "n_atoms", "n_layers", "thickness_A", "area_A2", "converged"]
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([miller_label(row["miller"]), *(row[name] for name in columns[1:])])
    (out_dir / "surfaces.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    written = [out_dir / "surfaces.csv", out_dir / "surfaces.json"]
    if result.wulff is not None:
        written.append(plot_wulff(result, out_dir / "wulff.png", title=f"{bulk.stem}, {model.stem}"))
    console.print("wrote " + ", ".join(str(path) for path in written))
