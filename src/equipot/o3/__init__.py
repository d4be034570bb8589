"""Thin helpers over e3nn: irreps utilities, rotations, Cartesian tensors, point groups,
the Voigt order."""

from .cartesian import (
    cartesian_change_of_basis,
    cartesian_irreps,
    cartesian_rank,
    rotate_cartesian,
    voigt_from_cartesian,
)
from .irreps import Irrep, irrep_name, irrep_products, natural_irreps, scalar_irreps, so3_irreps
from .symmetrize import (
    POINT_GROUP_GENERATORS,
    group_closure,
    named_point_group,
    point_group_operations,
    symmetrize_tensor,
)
from .voigt import VOIGT_NAMES, VOIGT_PAIRS, voigt_from_matrix
from .wigner import wigner_matrix

__all__ = [
    "POINT_GROUP_GENERATORS",
    "VOIGT_NAMES",
    "VOIGT_PAIRS",
    "Irrep",
    "cartesian_change_of_basis",
    "cartesian_irreps",
    "cartesian_rank",
    "group_closure",
    "irrep_name",
    "irrep_products",
    "named_point_group",
    "natural_irreps",
    "point_group_operations",
    "rotate_cartesian",
    "scalar_irreps",
    "so3_irreps",
    "symmetrize_tensor",
    "voigt_from_cartesian",
    "voigt_from_matrix",
    "wigner_matrix",
]
