"""Long-range electrostatics: the Coulomb energy of per-atom charges (Ewald and PME through
torch-pme, the direct sum for molecules), learned charges and charge equilibration, and the
hybrid potential that adds them to a local model."""

from .coulomb import COULOMB_CONSTANT, CoulombEnergy, EwaldParameters, LongRangeError, ewald_parameters, pme_parameters

__all__ = ["COULOMB_CONSTANT", "CoulombEnergy", "EwaldParameters", "LongRangeError", "ewald_parameters", "pme_parameters"]
