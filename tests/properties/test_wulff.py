"""The Wulff construction against closed forms: the cube, the octahedron, a cube with
truncated corners, and planes that do not touch the shape; symmetry families of fcc."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from equipot.properties.wulff import equivalent_millers, miller_normal, wulff_shape

CUBIC = bulk("Cu", a=3.6, cubic=True)


def _planes(gamma100: float, gamma111: float) -> tuple[np.ndarray, np.ndarray, list[int]]:
    members = equivalent_millers((1, 0, 0), CUBIC), equivalent_millers((1, 1, 1), CUBIC)
    normals = [miller_normal(m, CUBIC.cell.array) for family in members for m in family]
    gammas = [gamma100] * len(members[0]) + [gamma111] * len(members[1])
    return np.array(normals), np.array(gammas), [0] * len(members[0]) + [1] * len(members[1])


def test_fcc_families_have_their_multiplicities() -> None:
    counts = [len(equivalent_millers(m, CUBIC)) for m in [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 0), (3, 2, 1)]]
    assert counts == [6, 12, 8, 24, 48]
    normals = {tuple(np.round(miller_normal(m, CUBIC.cell.array), 9)) for m in equivalent_millers((1, 1, 0), CUBIC)}
    assert normals == {tuple(np.round(v / np.sqrt(2), 9)) for v in
                       {(a, b, 0) for a in (1, -1) for b in (1, -1)} | {(a, 0, b) for a in (1, -1) for b in (1, -1)}
                       | {(0, a, b) for a in (1, -1) for b in (1, -1)}}


def test_a_cube_when_111_planes_do_not_touch() -> None:
    shape = wulff_shape(*_planes(1.0, 1.8))  # corners of the cube at sqrt(3) < 1.8
    assert shape.volume == pytest.approx(8.0)
    assert shape.area_fractions == pytest.approx({0: 1.0, 1: 0.0})
    assert shape.surface_energy == pytest.approx(24.0)
    assert shape.support(np.array([[1.0, 0, 0], [1 / np.sqrt(2), 1 / np.sqrt(2), 0]])) == pytest.approx([1.0, np.sqrt(2)])


def test_an_octahedron_when_111_is_low_enough() -> None:
    gamma = 0.5
    shape = wulff_shape(*_planes(1.0, gamma))  # octahedron |x|+|y|+|z| <= sqrt(3) gamma; {100} at >= 1/sqrt(3) cut nothing
    reach = np.sqrt(3) * gamma
    assert shape.volume == pytest.approx(4 / 3 * reach**3)
    assert shape.area_fractions[1] == pytest.approx(1.0) and len(shape.facets) == 8


def test_truncated_corners_match_the_closed_form() -> None:
    gamma111 = 1.6  # cuts each corner of the cube [-1, 1]^3 by a tetrahedron with legs 3 - sqrt(3) 1.6
    leg = 3 - np.sqrt(3) * gamma111
    shape = wulff_shape(*_planes(1.0, gamma111))
    triangles = 8 * np.sqrt(3) / 2 * leg**2
    squares = 6 * (4 - 4 * leg**2 / 2)
    assert shape.volume == pytest.approx(8 - 8 * leg**3 / 6)
    assert shape.area_fractions[1] == pytest.approx(triangles / (triangles + squares))
    assert len(shape.facets) == 14


def test_bad_planes_are_refused() -> None:
    with pytest.raises(ValueError, match="surface energies must be positive"):
        wulff_shape(*_planes(1.0, -0.1))
    with pytest.raises(ValueError, match="do not enclose a bounded Wulff shape"):
        wulff_shape(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), np.ones(3), [0, 0, 0])
    with pytest.raises(ValueError, match="Miller index \\(0, 0, 0\\) is zero"):
        miller_normal((0, 0, 0), CUBIC.cell.array)
