"""The Voigt order (one home: equipot.o3.voigt) and the irrep selection rule."""

from __future__ import annotations

import numpy as np
import torch
from ase.stress import full_3x3_to_voigt_6_stress

from equipot.o3 import VOIGT_NAMES, VOIGT_PAIRS, irrep_products, voigt_from_cartesian, voigt_from_matrix


def test_voigt_order_is_ases() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(3, 3))
    matrix = matrix + matrix.T
    np.testing.assert_array_equal(voigt_from_matrix(matrix), full_3x3_to_voigt_6_stress(matrix))
    assert [VOIGT_NAMES[k] for k in range(6)] == ["xyz"[i] + "xyz"[j] for i, j in VOIGT_PAIRS]


def test_voigt_from_matrix_takes_batches_of_arrays_and_tensors_and_differentiates() -> None:
    matrices = torch.randn(4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    voigt = voigt_from_matrix(matrices)
    assert voigt.shape == (4, 2, 6)
    np.testing.assert_array_equal(voigt.detach().numpy(), voigt_from_matrix(matrices.detach().numpy()))
    (gradient,) = torch.autograd.grad(voigt[..., 3].sum(), matrices)  # yz
    assert gradient[..., 1, 2].eq(1).all() and gradient.sum() == 8


def test_rank_four_voigt_matrix_uses_the_same_order() -> None:
    tensor = np.zeros((3, 3, 3, 3))
    tensor[1, 2, 0, 1] = 7.0  # C_yz,xy
    assert voigt_from_cartesian(tensor)[3, 5] == 7.0


def test_selection_rule() -> None:
    assert irrep_products((1, -1), (1, -1)) == [(0, 1), (1, 1), (2, 1)]
    assert irrep_products((2, 1), (1, -1)) == [(1, -1), (2, -1), (3, -1)]
    assert irrep_products((0, -1), (0, -1)) == [(0, 1)]
