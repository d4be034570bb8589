"""``equipot``: the command-line entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .demo import demo
from .elastic import elastic
from .evaluate import evaluate
from .export import export
from .md import md
from .neb import neb
from .phonons import phonons
from .relax import relax
from .train import train
from .vibrations import vibrations

app = typer.Typer(
    name="equipot",
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
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """E(3)-equivariant neural network interatomic potentials: train, evaluate, simulate."""


app.command()(demo)
app.command()(train)
app.command()(evaluate)
app.command()(md)
app.command()(relax)
app.command()(neb)
app.command()(vibrations)
app.command()(phonons)
app.command()(elastic)
app.command()(export)


@app.command()
def version() -> None:
    """Print the equipot version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
