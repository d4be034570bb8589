"""How a potential is run fast: compiled copies (`CompiledPotential`), ``.pt2`` exports
(`export_model`, `load_exported`), the on-disk compile cache, and the allocator setting
for processes of many model calls (`keep_freed_memory`).

The physics classes in `equipot.models` know nothing of this layer. Names load on first
use, so ``from equipot.inference import keep_freed_memory`` does not import the compiler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .allocator import keep_freed_memory
    from .compiled_potential import COMPILED_MAX_EDGE_CHANNELS, CompiledPotential
    from .export import export_model, load_exported

__all__ = ["COMPILED_MAX_EDGE_CHANNELS", "CompiledPotential", "export_model", "keep_freed_memory", "load_exported"]

_HOMES = {
    "COMPILED_MAX_EDGE_CHANNELS": "compiled_potential",
    "CompiledPotential": "compiled_potential",
    "export_model": "export",
    "load_exported": "export",
    "keep_freed_memory": "allocator",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
