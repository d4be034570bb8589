"""What a property workflow differentiates: an equipot potential or any ASE calculator.

Workflows take an ``EnergySource``: an equipot `Potential` (an `EquivariantPotential`, a
`SumPotential`, ...: exact derivatives by automatic differentiation where a workflow
supports it) or any ASE calculator (finite
differences of its forces and stress). The same workflow code therefore validates a model
against ASE's EMT or GFN2-xTB.
"""

from __future__ import annotations

from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from ..calculator import EquipotCalculator
from ..data import check_finite
from ..models import Potential

__all__ = ["EnergySource", "as_calculator", "attach", "is_model"]

#: an equipot potential or any ASE calculator
EnergySource = Potential | BaseCalculator


def is_model(source: EnergySource) -> bool:
    """True for an equipot potential (exact derivatives available), False for a calculator."""
    return isinstance(source, Potential) and not isinstance(source, BaseCalculator)


def as_calculator(source: EnergySource) -> BaseCalculator:
    """The ASE calculator of ``source`` (a potential is wrapped in `EquipotCalculator`)."""
    if is_model(source):
        return EquipotCalculator(source, device=source.device)  # type: ignore[arg-type]
    if isinstance(source, BaseCalculator):
        return source
    raise TypeError(
        f"expected an equipot Potential (e.g. an EquivariantPotential) or an ASE calculator, got {type(source).__name__}"
    )


def attach(atoms: Atoms, calculator: BaseCalculator) -> Atoms:
    """A copy of ``atoms`` (constraints dropped) with ``calculator`` attached."""
    copy = atoms.copy()
    copy.set_constraint()
    copy.calc = calculator
    return copy


def check_atoms(atoms: Atoms, name: str = "atoms") -> None:
    """Raise a ValueError naming ``name`` unless ``atoms`` is a non-empty `ase.Atoms` with
    finite positions and cell (`equipot.data.check_finite`; each workflow words its own
    message for a flat cell)."""
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"{name} has no atoms")
    check_finite(atoms.positions, atoms.cell.array, name)
