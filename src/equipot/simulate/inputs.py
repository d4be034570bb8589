"""What a simulation starts from: a structure file and a model file."""

from __future__ import annotations

import os

import torch

from ..calculator import EquipotCalculator
from ..data.readers import read_structure  # the one structure reader (checks included)

__all__ = ["load_calculator", "read_structure"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
