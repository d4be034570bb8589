"""``equipot``: the command-line entry point."""

from __future__ import annotations

import typer

from .. import __version__
from .evaluate import evaluate

app = typer.Typer(
    name="equipot",
    help="E(3)-equivariant neural network interatomic potentials: train, evaluate, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(evaluate)


@app.command()
def version() -> None:
    """Print the equipot version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
