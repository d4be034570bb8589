"""equipot: E(3)-equivariant neural network interatomic potentials.

The names below load on first use (``equipot.EquivariantPotential`` imports torch and
e3nn then, not ``import equipot``), so the command line starts without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .calculator import EquipotCalculator
    from .config import ModelConfig
    from .data import AtomicGraph, graph_from_atoms
    from .inference import CompiledPotential, export_model, keep_freed_memory
    from .models import EquivariantPotential, ModelOutput, PairRepulsion, Potential, SumPotential
    from .models.io import load_model, save_model
    from .potential_files import load_potential

__all__ = [
    "AtomicGraph",
    "CompiledPotential",
    "EquipotCalculator",
    "EquivariantPotential",
    "ModelConfig",
    "ModelOutput",
    "PairRepulsion",
    "Potential",
    "SumPotential",
    "__version__",
    "export_model",
    "graph_from_atoms",
    "keep_freed_memory",
    "load_model",
    "load_potential",
    "save_model",
]

_HOMES = {
    "AtomicGraph": ".data",
    "CompiledPotential": ".inference",
    "EquipotCalculator": ".calculator",
    "EquivariantPotential": ".models",
    "ModelConfig": ".config",
    "ModelOutput": ".models",
    "PairRepulsion": ".models",
    "Potential": ".models",
    "SumPotential": ".models",
    "export_model": ".inference",
    "graph_from_atoms": ".data",
    "keep_freed_memory": ".inference",
    "load_model": ".models.io",
    "load_potential": ".potential_files",
    "save_model": ".models.io",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
