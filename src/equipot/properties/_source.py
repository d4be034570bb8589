"""What a property workflow differentiates: an equipot model or any ASE calculator.

Workflows take an ``EnergySource``: an `EquivariantPotential` (exact derivatives by
automatic differentiation where a workflow supports it) or any ASE calculator (finite
differences of its forces and stress). The same workflow code therefore validates a model
against ASE's EMT or GFN2-xTB.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from ..calculator import EquipotCalculator
from ..models import EquivariantPotential

__all__ = ["EnergySource", "as_calculator", "attach", "is_model"]

#: an equipot model or any ASE calculator
EnergySource = EquivariantPotential | BaseCalculator


def is_model(source: EnergySource) -> bool:
    """True for an equipot model (exact derivatives available), False for a calculator."""
    return isinstance(source, EquivariantPotential)


def as_calculator(source: EnergySource) -> BaseCalculator:
    """The ASE calculator of ``source`` (a model is wrapped in `EquipotCalculator`)."""
    if isinstance(source, EquivariantPotential):
        return EquipotCalculator(source)
    if isinstance(source, BaseCalculator):
        return source
    raise TypeError(
        f"expected an equipot EquivariantPotential or an ASE calculator, got {type(source).__name__}"
    )


def attach(atoms: Atoms, calculator: BaseCalculator) -> Atoms:
    """A copy of ``atoms`` (constraints dropped) with ``calculator`` attached."""
    copy = atoms.copy()
    copy.set_constraint()
    copy.calc = calculator
    return copy


def check_atoms(atoms: Atoms, name: str = "atoms") -> None:
    """Raise a ValueError naming ``name`` unless ``atoms`` is a non-empty `ase.Atoms`."""
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"{name} has no atoms")
    if not np.isfinite(atoms.positions).all():
        raise ValueError(f"{name} has non-finite positions")
