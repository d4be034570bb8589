"""Cartesian tensors <-> irreps: the change of basis intertwines Wigner matrices with
rotations of every index (so heads that predict irreps give correctly rotating tensors)."""

import numpy as np
import pytest
import torch
from e3nn import o3

from equipot.o3 import cartesian_change_of_basis, cartesian_irreps, rotate_cartesian, wigner_matrix
from equipot.testing import random_rotation

FORMULAS = ["i", "ij=ji", "ij=-ji", "ijk=ikj", "ijkl=jikl=klij"]


def test_irreps_of_common_tensors():
    assert str(cartesian_irreps("ij=ji")) == "1x0e+1x2e"
    assert str(cartesian_irreps("ijk=ikj")) == "2x1o+1x2o+1x3o"
    assert str(cartesian_irreps("ijkl=jikl=klij")) == "2x0e+2x2e+1x4e"
    assert str(cartesian_irreps("ij=ji", pseudo=True)) == "1x0o+1x2o"


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("improper", [False, True])
def test_change_of_basis_intertwines_rotations(formula, improper):
    rank = len(formula.split("=")[0])
    change = cartesian_change_of_basis(formula)
    rotation = random_rotation(np.random.default_rng(rank), improper=improper)
    for pseudo in (False, True):
        irreps = cartesian_irreps(formula, pseudo)
        x = torch.randn(irreps.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        wigner = torch.as_tensor(wigner_matrix(irreps, rotation))
        from_irreps = torch.tensordot(wigner @ x, change, dims=1).numpy()
        rotated = rotate_cartesian(torch.tensordot(x, change, dims=1).numpy(), rotation, rank, pseudo=pseudo)
        np.testing.assert_allclose(from_irreps, rotated, atol=1e-12)


def test_rotate_cartesian_matches_matrix_rules():
    rng = np.random.default_rng(0)
    rotation = random_rotation(rng, improper=True)
    vector, matrix = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(rotate_cartesian(vector, rotation, 1), vector @ rotation.T, atol=1e-14)
    np.testing.assert_allclose(rotate_cartesian(matrix, rotation, 2), rotation @ matrix @ rotation.T, atol=1e-14)
    np.testing.assert_allclose(rotate_cartesian(vector, rotation, 1, pseudo=True), -(vector @ rotation.T), atol=1e-14)
    as_torch = rotate_cartesian(torch.as_tensor(matrix), torch.as_tensor(rotation), 2)
    np.testing.assert_allclose(as_torch.numpy(), rotation @ matrix @ rotation.T, atol=1e-14)
    assert o3.Irreps("1o").D_from_matrix(torch.as_tensor(rotation)).allclose(torch.as_tensor(rotation))  # e3nn's xyz order


def test_wigner_matrix_is_exact_and_agrees_with_e3nn():
    rng = np.random.default_rng(5)
    irreps = o3.Irreps("0e+0o+1o+1e+2e+2o+3o+4e")
    first, second = random_rotation(rng), random_rotation(rng, improper=True)
    d1, d2 = wigner_matrix(irreps, first), wigner_matrix(irreps, second)
    # a representation: D(R1 R2) = D(R1) D(R2), orthogonal, to round-off
    np.testing.assert_allclose(wigner_matrix(irreps, first @ second), d1 @ d2, atol=1e-12)
    np.testing.assert_allclose(d2 @ d2.T, np.eye(irreps.dim), atol=1e-12)
    # the same matrices as e3nn's (whose float32 constants limit it to ~1e-6)
    reference = irreps.D_from_matrix(torch.as_tensor(second)).numpy()
    np.testing.assert_allclose(d2, reference, atol=1e-5)
    assert np.diag(d2)[:2].tolist() == [1.0, -1.0]  # under an improper rotation 0e stays, 0o flips
