"""Point-group symmetrization of Cartesian tensors: Neumann's principle, checked on
elastic tensors (whose independent constants per crystal class are textbook values)."""

import numpy as np
import pytest
from ase.build import bulk

from equipot.o3 import (
    cartesian_change_of_basis,
    named_point_group,
    point_group_operations,
    symmetrize_tensor,
    voigt_from_cartesian,
)


def random_elastic_tensor(seed: int) -> np.ndarray:
    """A random rank-4 tensor with the symmetries ijkl = jikl = klij (21 constants)."""
    change = cartesian_change_of_basis("ijkl=jikl=klij").numpy()  # [21, 3, 3, 3, 3]
    coefficients = np.random.default_rng(seed).normal(size=change.shape[0])
    return np.tensordot(coefficients, change, axes=1)


def test_random_elastic_tensor_has_minor_and_major_symmetry():
    c = random_elastic_tensor(0)
    for permuted in (c.transpose(1, 0, 2, 3), c.transpose(0, 1, 3, 2), c.transpose(2, 3, 0, 1)):
        np.testing.assert_allclose(permuted, c, atol=1e-12)
    assert np.abs(voigt_from_cartesian(c)).min() > 1e-6  # generic: no accidental zeros


def test_cubic_symmetrization_leaves_c11_c12_c44():
    c = symmetrize_tensor(random_elastic_tensor(1), named_point_group("Oh"))
    v = voigt_from_cartesian(c)
    c11, c12, c44 = v[0, 0], v[0, 1], v[3, 3]
    assert min(abs(c11), abs(c12), abs(c44)) > 1e-3 and len({round(x, 6) for x in (c11, c12, c44)}) == 3
    expected = np.zeros((6, 6))
    expected[:3, :3] = c12
    expected[np.arange(3), np.arange(3)] = c11
    expected[np.arange(3, 6), np.arange(3, 6)] = c44
    np.testing.assert_allclose(v, expected, atol=1e-12)
    # a projection: applying it again changes nothing
    np.testing.assert_allclose(symmetrize_tensor(c, named_point_group("Oh")), c, atol=1e-12)


def test_hexagonal_symmetrization_leaves_five_constants():
    v = voigt_from_cartesian(symmetrize_tensor(random_elastic_tensor(2), named_point_group("D6h")))
    c11, c12, c13, c33, c44 = v[0, 0], v[0, 1], v[0, 2], v[2, 2], v[3, 3]
    expected = np.array(
        [
            [c11, c12, c13, 0, 0, 0],
            [c12, c11, c13, 0, 0, 0],
            [c13, c13, c33, 0, 0, 0],
            [0, 0, 0, c44, 0, 0],
            [0, 0, 0, 0, c44, 0],
            [0, 0, 0, 0, 0, (c11 - c12) / 2],
        ]
    )
    np.testing.assert_allclose(v, expected, atol=1e-12)
    assert min(abs(x) for x in (c11, c12, c13, c33, c44)) > 1e-3


def test_spglib_point_groups():
    assert len(point_group_operations(bulk("Cu", "fcc", a=3.6, cubic=True))) == 48
    assert len(point_group_operations(bulk("Cu", "fcc", a=3.6))) == 48  # primitive cell, oblique axes
    hcp = point_group_operations(bulk("Mg", "hcp", a=3.2, c=5.2))
    assert len(hcp) == 24
    # the operations of the primitive fcc cell are Cartesian, hence orthogonal, and equal Oh's
    operations = point_group_operations(bulk("Cu", "fcc", a=3.6))
    np.testing.assert_allclose(operations @ operations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (48, 3, 3)), atol=1e-10)
    as_set = {tuple(np.round(op, 8).ravel()) for op in operations}
    assert as_set == {tuple(np.round(op, 8).ravel()) for op in named_point_group("Oh")}


def test_axial_tensors_get_det_r():
    # a symmetric axial rank-2 tensor (gyration tensor) must vanish in a centrosymmetric group
    t = np.random.default_rng(3).normal(size=(3, 3))
    t = t + t.T
    assert np.abs(symmetrize_tensor(t, named_point_group("Oh"), axial=True)).max() < 1e-12
    assert np.abs(symmetrize_tensor(t, named_point_group("O"), axial=True)).max() > 1e-3  # chiral cubic: allowed
    # a polar vector vanishes under inversion symmetry, survives in C6v along z only
    v = np.array([0.3, -0.7, 1.1])
    assert np.abs(symmetrize_tensor(v, named_point_group("D6h"))).max() < 1e-12
    np.testing.assert_allclose(symmetrize_tensor(v, named_point_group("C6v")), [0, 0, 1.1], atol=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="last 2 axes must have length 3"):
        symmetrize_tensor(np.zeros((3, 4)), named_point_group("Oh"))
    with pytest.raises(ValueError, match="orthogonal"):
        symmetrize_tensor(np.zeros((3, 3)), np.array([[[1, 1, 0], [0, 1, 0], [0, 0, 1]]]))
    with pytest.raises(ValueError, match="unknown point group 'X'"):
        named_point_group("X")
