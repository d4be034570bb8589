"""equipot in LAMMPS: ``pair_style equipot`` (a plugin built from the C++ sources in
``cpp/`` by `build_plugin`, ``equipot lammps`` on the command line) and the ``.pt2``
export it loads (`export_for_lammps`, ``equipot export MODEL.pt --lammps``). See
docs/lammps.md. Names load on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import PluginBuildError, build_plugin
    from .export import export_for_lammps

__all__ = ["PluginBuildError", "build_plugin", "export_for_lammps"]

_HOMES = {"PluginBuildError": "build", "build_plugin": "build", "export_for_lammps": "export"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
