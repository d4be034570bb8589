"""Labellers: reference methods by name (a registry in code, no import strings).

    LABELLERS["emt"](settings) -> an ASE calculator

`label` runs one and returns the energy and forces, or raises `LabelError` when the
calculator fails or returns a non-finite number (the loop then quarantines the structure).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

__all__ = ["LABELLERS", "LabelError", "label", "make_labeller"]

LabellerFactory = Callable[[dict[str, Any]], BaseCalculator]


def _known_settings(name: str, settings: dict[str, Any], known: dict[str, Any]) -> None:
    """ASE calculators take any keyword silently; a misspelled setting would be ignored."""
    unknown = [key for key in settings if key not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"labeller {name!r} has no setting {unknown[0]!r}{hint} (settings: {', '.join(known)})")


def _emt(settings: dict[str, Any]) -> BaseCalculator:
    from ase.calculators.emt import EMT

    _known_settings("emt", settings, EMT.default_parameters)
    return EMT(**settings)


def _gfn2(settings: dict[str, Any]) -> BaseCalculator:
    try:
        from tblite.ase import TBLite
    except ImportError as error:  # pragma: no cover - tblite is a dependency
        raise ImportError("the gfn2 labeller needs tblite: pip install tblite") from error
    _known_settings("gfn2", settings, {k: v for k, v in TBLite.default_parameters.items() if k != "method"})
    return TBLite(**{"method": "GFN2-xTB", "verbosity": 0, **settings})


#: name -> factory(settings) -> ASE calculator; add your own with ``LABELLERS["dft"] = factory``
LABELLERS: dict[str, LabellerFactory] = {"emt": _emt, "gfn2": _gfn2}


class LabelError(RuntimeError):
    """A labeller failed on a structure or returned a non-finite energy or force."""


def make_labeller(name: str, settings: dict[str, Any]) -> BaseCalculator:
    """The calculator of the labeller ``name`` with ``settings``; ValueError naming the
    closest known name for an unknown one."""
    if name not in LABELLERS:
        close = difflib.get_close_matches(name, list(LABELLERS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown labeller {name!r}{hint} (known: {', '.join(LABELLERS)}); set labeller.name")
    try:
        return LABELLERS[name](dict(settings))
    except TypeError as error:
        raise ValueError(f"labeller {name!r} does not take the settings {settings}: {error}") from error


def label(atoms: Atoms, calculator: BaseCalculator) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces [n_atoms, 3] (eV/Å) of ``atoms`` by ``calculator``.

    Raises:
        LabelError: the calculator raised, or a value is NaN or infinite.
    """
    structure = atoms.copy()
    structure.calc = calculator
    try:
        energy = float(structure.get_potential_energy())
        forces = np.array(structure.get_forces(), dtype=float)
    except Exception as error:  # any failure of a foreign code quarantines the structure
        raise LabelError(f"{type(error).__name__}: {error}") from error
    if not np.isfinite(energy) or not np.isfinite(forces).all():
        raise LabelError(f"non-finite label (energy {energy}, forces finite: {bool(np.isfinite(forces).all())})")
    return energy, forces
