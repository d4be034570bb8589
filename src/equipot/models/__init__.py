"""The `Potential` protocol; assembled potentials (config -> nn.Module) and their sums;
energy and its derivatives; output heads; model files."""

from .composition import SumPotential
from .derivatives import derive_outputs, hessian_vector_products
from .heads import HeadSet, OutputSpec, PeriodicDipoleError
from .irreps_flow import UnreachableIrrepsError
from .output import ModelOutput
from .potential import EquivariantPotential, UnknownElementError
from .protocol import Potential
from .repulsion import PairRepulsion

__all__ = [
    "EquivariantPotential",
    "HeadSet",
    "ModelOutput",
    "OutputSpec",
    "PairRepulsion",
    "PeriodicDipoleError",
    "Potential",
    "SumPotential",
    "UnknownElementError",
    "UnreachableIrrepsError",
    "derive_outputs",
    "hessian_vector_products",
]
