"""Shared console and error handling for the commands."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ..progress import progress_bars, progress_enabled

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

#: ``--progress/--no-progress`` of the long commands; takes effect through `follows_progress_option`
ProgressOption = Annotated[
    bool, typer.Option(help="progress bars and spinners on a terminal; --no-progress for logs and batch jobs")
]


def follows_progress_option(function: F) -> F:
    """Run a command with progress bars on or off as its ``progress`` argument says."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with progress_bars(kwargs.get("progress", True)):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def working(message: str) -> AbstractContextManager[Any]:
    """A spinner with ``message`` while the code inside runs (on a terminal, progress on)."""
    return console.status(message) if progress_enabled() and console.is_terminal else nullcontext()


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
