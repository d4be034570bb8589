"""Long-range electrostatics: the Coulomb energy of per-atom charges (Ewald and PME through
torch-pme, the direct sum for molecules), learned charges and charge equilibration, and the
hybrid potential that adds them to a local model."""

from .build import build_potential, load_long_range_model, save_long_range_model
from .charges import CHARGE_SCHEMES, ChargeHead
from .coulomb import COULOMB_CONSTANT, CoulombEnergy, EwaldParameters, LongRangeError, ewald_parameters, pme_parameters
from .potential import LONG_RANGE_OUTPUTS, LongRangePotential

__all__ = [
    "CHARGE_SCHEMES",
    "COULOMB_CONSTANT",
    "LONG_RANGE_OUTPUTS",
    "ChargeHead",
    "CoulombEnergy",
    "EwaldParameters",
    "LongRangeError",
    "LongRangePotential",
    "build_potential",
    "ewald_parameters",
    "load_long_range_model",
    "save_long_range_model",
    "pme_parameters",
]
