"""Thin helpers over e3nn: irreps utilities, rotations, Cartesian tensors, point groups."""

from .cartesian import (
    cartesian_change_of_basis,
    cartesian_irreps,
    cartesian_rank,
    rotate_cartesian,
    voigt_from_cartesian,
)
from .irreps import natural_irreps, scalar_irreps, so3_irreps
from .symmetrize import (
    POINT_GROUP_GENERATORS,
    group_closure,
    named_point_group,
    point_group_operations,
    symmetrize_tensor,
)
from .wigner import wigner_matrix

__all__ = [
    "POINT_GROUP_GENERATORS",
    "cartesian_change_of_basis",
    "cartesian_irreps",
    "cartesian_rank",
    "group_closure",
    "named_point_group",
    "natural_irreps",
    "point_group_operations",
    "rotate_cartesian",
    "scalar_irreps",
    "so3_irreps",
    "symmetrize_tensor",
    "voigt_from_cartesian",
    "wigner_matrix",
]
