"""Assembled potentials: config -> nn.Module; energy and its derivatives."""

from .derivatives import derive_outputs
from .output import ModelOutput
from .potential import EquivariantPotential, UnknownElementError

__all__ = ["EquivariantPotential", "ModelOutput", "UnknownElementError", "derive_outputs"]
