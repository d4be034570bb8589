"""The ``--max-uncertainty`` / ``--on-extrapolation`` options of ``relax``, ``neb`` and ``phonons``.

The same options as ``equipot md``: a flagged structure is written to
``extrapolating_frames.xyz``; ``stop`` ends the command with exit code 3 after writing
``uncertainty_summary.json``; ``warn`` warns and goes on. The largest uncertainties seen
are printed and go into the command's summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from ..simulate import ExtrapolationError, UncertaintyMonitor
from ._console import console, error_console

MaxUncertaintyOption = Annotated[
    float | None,
    typer.Option(help="flag a structure whose largest forces_std (eV/Å) exceeds this (a model with uncertainty outputs)"),
]
OnExtrapolationOption = Annotated[
    str | None,
    typer.Option(help="warn or stop when the model extrapolates (its flag or --max-uncertainty); frames are written out"),
]


def build_monitor(
    atoms: Atoms, calculator: BaseCalculator, max_uncertainty: float | None, on_extrapolation: str | None, folder: Path
) -> UncertaintyMonitor | None:
    """An `UncertaintyMonitor` on ``atoms`` (``calculator`` attached), or None when neither option is given."""
    if max_uncertainty is None and on_extrapolation is None:
        return None
    atoms.calc = calculator
    return UncertaintyMonitor(
        atoms, max_uncertainty, on_extrapolation or "warn", frames_file=folder / "extrapolating_frames.xyz"
    )


@contextmanager
def stop_on_extrapolation(monitor: UncertaintyMonitor | None, folder: Path) -> Iterator[None]:
    """Turn the monitor's `ExtrapolationError` into its message, ``uncertainty_summary.json`` and exit code 3."""
    try:
        yield
    except ExtrapolationError as error:
        assert monitor is not None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "uncertainty_summary.json").write_text(json.dumps(monitor.summary(), indent=2) + "\n", encoding="utf-8")
        error_console.print(f"[bold red]stopped:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=3) from None


def print_largest(monitor: UncertaintyMonitor | None) -> None:
    """One line: the largest uncertainties seen and what was flagged."""
    if monitor is None:
        return
    summary = monitor.summary()
    largest = ", ".join(f"{name} {value:.4g}" for name, value in summary["max_seen"].items())  # type: ignore[union-attr]
    flagged = summary["flagged"]
    console.print(f"largest uncertainty seen over {summary['steps_checked']} structures checked: {largest}; "
                  + (f"{len(flagged)} flagged: {', '.join(flagged[:5])}{', ...' if len(flagged) > 5 else ''}"  # type: ignore[arg-type]
                     if flagged else "nothing flagged"), highlight=False, soft_wrap=True)
