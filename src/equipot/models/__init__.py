"""Assembled potentials: config -> nn.Module; energy and its derivatives; output heads."""

from .derivatives import derive_outputs
from .heads import HeadSet, OutputSpec, PeriodicDipoleError
from .irreps_flow import UnreachableIrrepsError
from .output import ModelOutput
from .potential import EquivariantPotential, UnknownElementError

__all__ = [
    "EquivariantPotential",
    "HeadSet",
    "ModelOutput",
    "OutputSpec",
    "PeriodicDipoleError",
    "UnknownElementError",
    "UnreachableIrrepsError",
    "derive_outputs",
]
