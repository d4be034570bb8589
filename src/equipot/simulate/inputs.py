"""What a simulation starts from: a structure file and a model file."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..calculator import EquipotCalculator
from ..data.readers import read_structure  # the one structure reader (checks included)

__all__ = ["load_calculator", "read_structure"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def load_calculator(
    path: str | os.PathLike, device: str = "cpu", dtype: str | None = None, compile: bool = False, exported: bool = False
) -> EquipotCalculator:
    """An `EquipotCalculator` for the model file ``path`` on ``device``, in ``dtype``
    ("float32", "float64", or None for the precision the model was saved in), compiled
    if ``compile`` (`equipot.inference.CompiledPotential`).

    ``exported=True`` loads a ``.pt2`` export instead (`equipot.inference.load_exported`):
    it RUNS MACHINE CODE from the file, so it is never done for a ``.pt2`` alone; pass it
    only for exports you made or trust.

    Raises ValueError (`equipot.models.io.ModelFileError`) for a missing or invalid file,
    a ``.pt2`` without ``exported``, or ``exported`` with another file.
    """
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} (or None for the model's own), got {dtype!r}")
    torch_dtype = DTYPES[dtype] if dtype is not None else None
    is_export = Path(path).suffix == ".pt2"
    if exported != is_export:
        if is_export:
            raise ValueError(
                f"{path} is an exported model (.pt2): it runs machine code when loaded. Pass --exported "
                "(exported=True) to load an export you made or trust, or give the .pt model file"
            )
        raise ValueError(f"--exported (exported=True) loads a .pt2 export made by `equipot export`; {path} is not one")
    if exported:
        from ..inference import load_exported  # the compiler loads only for an export

        return EquipotCalculator(load_exported(path, device=device, dtype=torch_dtype), device=device, dtype=torch_dtype)
    return EquipotCalculator.from_file(path, device=device, dtype=torch_dtype, compile=compile)
