"""Public checks for equipot models (and any model with the same calling convention):
symmetry, finite differences, and a reusable pytest suite.

Use them on your own trained models::

    from equipot.testing import assert_equivariant, assert_forces_match_finite_differences
    assert_equivariant(model, atoms, outputs=("energy", "forces", "stress"))
    assert_equivariant(model, molecule, outputs=("energy", "dipole", "polarizability"))  # heads
"""

from .equivariance import assert_equivariant, default_tolerance, evaluate, evaluate_many
from .output_rules import expected_transform, is_per_atom
from .finite_differences import assert_forces_match_finite_differences, assert_stress_match_finite_differences
from .suite import ModelTestSuite
from .structures import random_crystal, random_molecule
from .transforms import permute_atoms, random_rotation, rotate_atoms, translate_atoms

__all__ = [
    "ModelTestSuite",
    "assert_equivariant",
    "assert_forces_match_finite_differences",
    "assert_stress_match_finite_differences",
    "default_tolerance",
    "evaluate",
    "evaluate_many",
    "expected_transform",
    "is_per_atom",
    "permute_atoms",
    "random_crystal",
    "random_molecule",
    "random_rotation",
    "rotate_atoms",
    "translate_atoms",
]
