"""Simulation with any ASE calculator (an `EquipotCalculator` in particular): MD helpers."""

from .md import MDResult, run_nve

__all__ = ["MDResult", "run_nve"]
