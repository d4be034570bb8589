"""`label_frames`: label structures with a teacher (an ASE calculator or an equipot model),
to make the cheap training set of a distillation in one call (docs/distillation.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from ..calculator import EquipotCalculator
from ..models import Potential
from ..potential_files import load_potential

__all__ = ["TeacherLabelError", "label_frames"]


class TeacherLabelError(ValueError):
    """The teacher failed on a structure or returned a non-finite label."""


def _calculator(teacher: Calculator | Potential | str | os.PathLike) -> Calculator:
    if isinstance(teacher, Calculator):
        return teacher
    if isinstance(teacher, (str, os.PathLike)):
        return EquipotCalculator(load_potential(teacher))
    if isinstance(teacher, Potential):
        return EquipotCalculator(teacher)
    raise TypeError(
        f"teacher must be an ASE calculator, an equipot Potential or a model file (.pt), got {type(teacher).__name__}"
    )


def label_frames(
    frames: Iterable[Atoms],
    teacher: Calculator | Potential | str | os.PathLike,
    output: str | os.PathLike | None = None,
    stress: bool | None = None,
) -> list[Atoms]:
    """Copies of ``frames`` labelled by ``teacher``: energy (eV), forces (eV/Å) and, for
    periodic cells (or ``stress=True``), stress (eV/Å³, Voigt, ASE's sign), stored as
    single-point results (what extxyz writes and equipot's readers read as labels).

    ``teacher``: an ASE calculator (EMT, tblite's GFN1-xTB, a fitted pair potential, a DFT
    code), an equipot `Potential`, or the path of an equipot model file. With ``output``
    the labelled frames are also written there (extxyz; ``.db`` for an ASE database).
    Raises `TeacherLabelError` naming the frame where the teacher fails or returns a
    non-finite number.
    """
    calculator = _calculator(teacher)
    labelled: list[Atoms] = []
    for index, atoms in enumerate(frames):
        copy = atoms.copy()
        copy.calc = calculator
        with_stress = bool(copy.pbc.all()) if stress is None else stress
        try:
            results = {"energy": copy.get_potential_energy(), "forces": copy.get_forces()}
            if with_stress:
                results["stress"] = copy.get_stress(voigt=True)
        except Exception as error:  # a teacher's own exception type is unknown here
            raise TeacherLabelError(f"frame {index}: the teacher {type(calculator).__name__} failed: {error}") from error
        bad = [name for name, value in results.items() if not np.all(np.isfinite(value))]
        if bad:
            raise TeacherLabelError(
                f"frame {index}: the teacher {type(calculator).__name__} returned non-finite {', '.join(bad)}; "
                "remove the frame or check the teacher's settings"
            )
        results = {k: float(v) if k == "energy" else np.array(v, dtype=float) for k, v in results.items()}
        copy.calc = SinglePointCalculator(copy, **results)
        labelled.append(copy)
    if not labelled:
        raise TeacherLabelError("no frames to label; pass at least one ase.Atoms")
    if output is not None:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".db":
            from ase.db import connect

            with connect(path) as database:
                for atoms in labelled:
                    database.write(atoms)
        else:
            ase.io.write(path, labelled, format="extxyz")
    return labelled
