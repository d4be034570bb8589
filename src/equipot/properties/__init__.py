"""Properties as transformations of the energy: Hessians, vibrations, phonons, elastic
constants, the stable MD time step and a Newton optimizer.

Every workflow takes an ``EnergySource``: an equipot `Potential` (exact
second derivatives by automatic differentiation where supported) or any ASE calculator
(finite differences), so a model and its reference method (EMT, GFN2-xTB) run through the
same code. Units are ASE's: eV, Å, amu; frequencies in cm^-1 (molecules) or THz
(phonons), elastic constants in GPa, times in fs. See ``docs/properties.md``.
"""

from ._source import EnergySource, as_calculator, is_model
from .elastic import (
    ElasticResult,
    elastic_moduli,
    elastic_tensor,
    elastic_tensor_autograd,
    strain_matrix,
    write_elastic_files,
)
from .hessian import HessianResult, exact_hessian, finite_difference_hessian, hessian, hessian_of
from .newton import NewtonResult, newton_relax
from .phonons import BandStructure, PhononResult, phonons
from .stability import InstabilityWarning
from .timestep import SAFETY_FRACTION, TimestepEstimate, stable_timestep, timestep_from_hessian
from .vibrations import (
    ZERO_TOLERANCE_CM,
    ModeMatch,
    VibrationResult,
    expected_zero_modes,
    match_modes,
    vibrational_analysis,
    vibrations,
    write_mode_animation,
    write_vibration_files,
)

__all__ = [
    "SAFETY_FRACTION",
    "ZERO_TOLERANCE_CM",
    "BandStructure",
    "ElasticResult",
    "EnergySource",
    "HessianResult",
    "InstabilityWarning",
    "ModeMatch",
    "NewtonResult",
    "PhononResult",
    "TimestepEstimate",
    "VibrationResult",
    "as_calculator",
    "elastic_moduli",
    "elastic_tensor",
    "elastic_tensor_autograd",
    "exact_hessian",
    "expected_zero_modes",
    "finite_difference_hessian",
    "hessian",
    "hessian_of",
    "is_model",
    "match_modes",
    "newton_relax",
    "phonons",
    "stable_timestep",
    "strain_matrix",
    "timestep_from_hessian",
    "vibrational_analysis",
    "vibrations",
    "write_elastic_files",
    "write_mode_animation",
    "write_vibration_files",
]
