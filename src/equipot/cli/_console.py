"""Shared console and error handling for the commands."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

#: ``--compile`` of the commands that evaluate a model many times (md, relax, neb)
CompileOption = Annotated[
    bool,
    typer.Option(
        help="compile model and forces into one graph: slow the first time (cached on disk), faster from then on (docs/performance.md)"
    ),
]

#: ``--exported`` of the commands that take a model file: the explicit consent to load a
#: ``.pt2`` export, which runs machine code from the file (docs/performance.md)
ExportedOption = Annotated[
    bool,
    typer.Option(
        help="MODEL is a .pt2 from `equipot export`: loading it RUNS MACHINE CODE from the file; only for exports you made or trust"
    ),
]

#: errors whose message already says what is wrong and what to do: shown without a traceback
#: (FileExistsError: a run folder already in use; FloatingPointError: a NaN training loss)
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    FloatingPointError,
    KeyError,
    TypeError,
)


def user_errors(function: F) -> F:
    """Turn the library's user-facing errors into a one-line message and exit code 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as error:
            message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]
