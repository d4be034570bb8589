"""Simulation with any ASE calculator (an `EquipotCalculator` in particular): molecular
dynamics (NVE, NVT, NPT), relaxation of positions and cell, nudged elastic bands, and
their figures. Units: eV, Å, fs, K, GPa."""

from .ensembles import EnsembleSettings
from .md import MDResult, run_md, run_nve
from .monitor import ExtrapolationError, ExtrapolationWarning, UncertaintyMonitor
from .neb import NEBResult, UnphysicalBandError, band_problems, run_neb
from .plots import plot_md, plot_minimum_energy_path
from .relax import RelaxResult, relax
from .inputs import load_calculator, read_structure

__all__ = [
    "EnsembleSettings",
    "ExtrapolationError",
    "ExtrapolationWarning",
    "MDResult",
    "NEBResult",
    "RelaxResult",
    "UncertaintyMonitor",
    "UnphysicalBandError",
    "band_problems",
    "load_calculator",
    "plot_md",
    "plot_minimum_energy_path",
    "read_structure",
    "relax",
    "run_md",
    "run_neb",
    "run_nve",
]
