"""``equipot export``: compile a model ahead of time into a ``.pt2`` file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import torch
import typer

from ..inference import export_model
from ..potential_files import load_potential
from ..simulate.inputs import DTYPES
from ._console import ProgressOption, console, follows_progress_option, user_errors, working


@user_errors
@follows_progress_option
def export(
    model: Annotated[Path, typer.Argument(help="model file (model.pt)")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="the .pt2 to write (default: MODEL with .pt2)")] = None,
    device: Annotated[str, typer.Option(help="where the export will run: cpu, cuda, ...")] = "cpu",
    dtype: Annotated[str | None, typer.Option(help="float32 or float64 (default: the model's)")] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads the runs will use (default: torch's; with --lammps: 1 per MPI rank)")
    ] = None,
    lammps: Annotated[
        bool, typer.Option("--lammps", help="write the .pt2 that LAMMPS's pair_style equipot loads (docs/lammps.md)")
    ] = False,
    progress: ProgressOption = True,
) -> None:
    """Compile MODEL's energy, forces and stress ahead of time into a .pt2 (machine code).

    `equipot md`, `relax` and `neb` load it ready to run with --exported (no compiling at
    start), and `equipot.inference.load_exported` in Python.

    With --lammps it writes instead the program that `pair_style equipot MODEL.pt2` runs
    in LAMMPS (build the plugin with `equipot lammps`; docs/lammps.md).

    The .pt2 holds machine code for this kind of machine, which runs when it is loaded:
    share the .pt, export where it runs.
    """
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if lammps:
        _export_for_lammps(model, output or model.with_suffix(".pt2"), device, dtype, threads or 1)
        return
    if threads is not None:
        torch.set_num_threads(threads)
    output = output or model.with_suffix(".pt2")
    potential = load_potential(model)  # any kind; export_model refuses all but an EquivariantPotential
    start = time.perf_counter()
    with working(f"compiling {model} for {device} ({torch.get_num_threads()} threads)"):
        export_model(potential, output, device=device, dtype=DTYPES[dtype] if dtype else None)
    console.print(f"wrote {output} in {time.perf_counter() - start:.0f} s; run it with --exported (equipot md/relax/neb)")


def _export_for_lammps(model: Path, output: Path, device: str, dtype: str | None, threads: int) -> None:
    from ..lammps import export_for_lammps
    from ..potential_files import load_potential

    potential = load_potential(model)  # every kind of file, so that composed ones are refused by name
    start = time.perf_counter()
    with working(f"compiling {model} for LAMMPS on {device} ({threads} thread(s) per MPI rank)"):
        export_for_lammps(potential, output, dtype=DTYPES[dtype] if dtype else None, device=device, threads=threads)  # type: ignore[arg-type]
    console.print(
        f"wrote {output} in {time.perf_counter() - start:.0f} s; in LAMMPS: plugin load $(equipot lammps), "
        f"pair_style equipot {output}, pair_coeff * * <element of each type>"
    )
