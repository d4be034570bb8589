"""Thin helpers over e3nn: irreps utilities, rotations, Cartesian tensors."""

from .irreps import coupling_paths, natural_irreps, scalar_irreps, so3_irreps

__all__ = ["coupling_paths", "natural_irreps", "scalar_irreps", "so3_irreps"]
