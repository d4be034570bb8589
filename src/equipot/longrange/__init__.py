"""Long-range electrostatics: the Coulomb energy of per-atom charges (Ewald and PME through
torch-pme, the direct sum for molecules), learned charges and charge equilibration, and the
hybrid potential that adds them to a local model; the polarization of a cell from its
charges and the classification of ferroelectric domains."""

from .build import build_potential, load_long_range_model, save_long_range_model
from .charges import CHARGE_SCHEMES, ChargeHead
from .coulomb import COULOMB_CONSTANT, CoulombEnergy, EwaldParameters, LongRangeError, ewald_parameters, pme_parameters
from .polarization import (
    DOMAIN_FAMILIES,
    E_PER_A2_TO_C_PER_M2,
    Domains,
    classify_domains,
    local_polarization,
    polarization,
    structure_polarization,
    unit_cell_groups,
)
from .potential import LONG_RANGE_OUTPUTS, LongRangePotential
from .reference_charges import coulomb_energy_of, energies_without_reference_coulomb

__all__ = [
    "CHARGE_SCHEMES",
    "COULOMB_CONSTANT",
    "DOMAIN_FAMILIES",
    "E_PER_A2_TO_C_PER_M2",
    "LONG_RANGE_OUTPUTS",
    "ChargeHead",
    "CoulombEnergy",
    "Domains",
    "EwaldParameters",
    "LongRangeError",
    "LongRangePotential",
    "build_potential",
    "classify_domains",
    "coulomb_energy_of",
    "energies_without_reference_coulomb",
    "local_polarization",
    "polarization",
    "structure_polarization",
    "unit_cell_groups",
    "ewald_parameters",
    "load_long_range_model",
    "save_long_range_model",
    "pme_parameters",
]
