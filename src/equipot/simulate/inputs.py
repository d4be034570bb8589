"""What a simulation starts from: a structure file and a model file."""

from __future__ import annotations

import os
from pathlib import Path

import ase.io
import torch
from ase import Atoms

from ..calculator import EquipotCalculator

__all__ = ["load_calculator", "read_structure"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def read_structure(path: str | os.PathLike, index: int = -1) -> Atoms:
    """The frame ``index`` (default: the last) of any file ASE reads (extxyz, .traj, CIF,
    POSCAR, ...), without the stored calculator results.

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for one
    that ASE cannot read or that holds no structure.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"structure file {path} does not exist")
    try:
        atoms = ase.io.read(path, index=index)
    except Exception as error:  # ASE's readers raise many types; all mean "not a structure we can read"
        raise ValueError(f"cannot read a structure from {path}: {type(error).__name__}: {error}") from error
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise ValueError(f"{path} holds no atoms")
    atoms.calc = None
    return atoms


def load_calculator(
    path: str | os.PathLike, device: str = "cpu", dtype: str | None = None, compile: bool = False
) -> EquipotCalculator:
    """An `EquipotCalculator` for the model file ``path`` on ``device``, in ``dtype``
    ("float32", "float64", or None for the precision the model was saved in), compiled
    if ``compile`` (see `EquivariantPotential.compiled`).

    Raises ValueError (`equipot.models.io.ModelFileError`) for a missing or invalid file.
    """
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} (or None for the model's own), got {dtype!r}")
    return EquipotCalculator.from_file(
        path, device=device, dtype=DTYPES[dtype] if dtype is not None else None, compile=compile
    )
