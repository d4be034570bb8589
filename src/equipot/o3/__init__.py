"""Thin helpers over e3nn: irreps utilities, rotations, Cartesian tensors."""

from .irreps import natural_irreps, scalar_irreps, so3_irreps

__all__ = ["natural_irreps", "scalar_irreps", "so3_irreps"]
