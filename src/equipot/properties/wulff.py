"""The Wulff construction: the equilibrium crystal shape from surface energies.

The Wulff shape is the set of points ``x`` with ``x . n_j <= gamma_j`` for every facet
normal ``n_j`` (unit vector) of every symmetry-equivalent member of every measured family:
an intersection of half-spaces, whose facet ``j`` sits at distance ``h_j = gamma_j`` from
the centre. Families whose planes never touch the shape (too high a gamma) get zero area.
Lengths are in the unit of gamma (any unit: the shape is defined up to scale).

Symmetry-equivalent planes come from the crystal's point group (spglib, rotations of the
conventional cell in fractional coordinates), plus inversion: the two faces of a slab are
averaged, so ``(hkl)`` and ``(-h-k-l)`` share their energy.

Example (a cube: only {100} facets)::

    >>> import numpy as np
    >>> normals = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1.0]])
    >>> shape = wulff_shape(normals, np.ones(6), [0] * 6)
    >>> round(shape.volume, 6), shape.area_fractions
    (8.0, {0: 1.0})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

__all__ = ["WulffShape", "equivalent_millers", "miller_normal", "wulff_shape"]


def miller_normal(miller: Sequence[int], cell: np.ndarray) -> np.ndarray:
    """Unit Cartesian normal [3] of the plane ``(hkl)`` of a lattice with rows ``cell``
    [3, 3] (Å): the direction of ``h b1 + k b2 + l b3``, ``b_i`` the reciprocal vectors."""
    vector = np.linalg.solve(np.asarray(cell, dtype=np.float64), np.asarray(miller, dtype=np.float64))
    norm = np.linalg.norm(vector)
    if norm == 0:
        raise ValueError(f"Miller index {tuple(miller)} is zero: give at least one non-zero index")
    return vector / norm


def equivalent_millers(miller: Sequence[int], conventional: Atoms) -> list[tuple[int, int, int]]:
    """The Miller indices symmetry-equivalent to ``miller`` in ``conventional`` (its point
    group from spglib, with inversion added), sorted, ``miller`` itself included."""
    import spglib

    cell = (conventional.cell.array, conventional.get_scaled_positions(), conventional.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=1e-3)
    rotations = [np.eye(3, dtype=int)] if dataset is None else list(dataset.rotations)
    index = np.asarray(miller, dtype=np.float64)
    family: set[tuple[int, int, int]] = set()
    for rotation in rotations:
        # a direct-space rotation x' = W x maps the plane h to h W^-1 (h a row vector)
        image = index @ np.linalg.inv(rotation)
        rounded = tuple(int(v) for v in np.rint(image))
        family.update([rounded, tuple(-v for v in rounded)])  # type: ignore[arg-type]
    return sorted(family)


@dataclass
class WulffShape:
    """A Wulff polyhedron.

    - ``vertices`` [n_vertices, 3], in the unit of gamma, centred on the origin
    - ``facets``: one ``(family, polygon)`` per facet with non-zero area; ``polygon``
      [k, 3] its corners in order around the facet
    - ``facet_areas``: area of each facet (unit of gamma squared), same order
    - ``area_fractions``: family -> fraction of the total surface area (0 for a family
      whose planes do not touch the shape)
    - ``volume``: volume of the polyhedron (unit of gamma cubed)
    - ``surface_energy``: sum of gamma_j x area_j over facets (the quantity the shape
      minimises at fixed volume)
    """

    vertices: np.ndarray
    facets: list[tuple[int, np.ndarray]]
    facet_areas: list[float]
    area_fractions: dict[int, float]
    volume: float
    surface_energy: float
    families: list[int] = field(default_factory=list)

    def support(self, directions: np.ndarray) -> np.ndarray:
        """The support function ``h(n) = max_x x . n`` [n_dirs] of the shape for unit
        ``directions`` [n_dirs, 3]: the convexified (Wulff) gamma(n)."""
        return np.max(np.asarray(directions, dtype=np.float64) @ self.vertices.T, axis=1)


def _polygon(points: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, float]:
    """Corners of a convex planar polygon in order around it, and its area."""
    centre = points.mean(axis=0)
    axis_u = points[np.argmax(np.linalg.norm(points - centre, axis=1))] - centre
    axis_u /= np.linalg.norm(axis_u)
    axis_v = np.cross(normal, axis_u)
    angles = np.arctan2((points - centre) @ axis_v, (points - centre) @ axis_u)
    ordered = points[np.argsort(angles)]
    area = 0.5 * abs(sum(np.dot(np.cross(ordered[i], ordered[(i + 1) % len(ordered)]), normal)
                         for i in range(len(ordered))))
    return ordered, float(area)


def wulff_shape(normals: np.ndarray, gammas: np.ndarray, families: Sequence[int]) -> WulffShape:
    """The Wulff polyhedron of planes with unit ``normals`` [n_planes, 3], energies
    ``gammas`` [n_planes] (> 0) and ``families`` [n_planes] (a label per plane: planes of
    one family share their area fraction).

    Raises ValueError if the planes do not enclose a bounded shape (add the
    symmetry-equivalent planes: a single family of a cubic crystal already closes it).
    """
    from scipy.spatial import ConvexHull, HalfspaceIntersection
    from scipy.spatial import QhullError

    normals = np.asarray(normals, dtype=np.float64)
    gammas = np.asarray(gammas, dtype=np.float64)
    if normals.ndim != 2 or normals.shape[1] != 3 or len(gammas) != len(normals) or len(families) != len(normals):
        raise ValueError(f"normals must be [n, 3] with n gammas and n families, got {normals.shape}, "
                         f"{gammas.shape}, {len(families)}")
    if not (np.isfinite(gammas).all() and (gammas > 0).all()):
        raise ValueError(f"surface energies must be positive for a Wulff shape, got {gammas.tolist()}")
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    try:
        intersection = HalfspaceIntersection(np.hstack([normals, -gammas[:, None]]), np.zeros(3))
        hull = ConvexHull(intersection.intersections)
    except QhullError as error:
        raise ValueError(f"the planes do not enclose a bounded Wulff shape: {str(error).splitlines()[0]}") from None
    vertices = intersection.intersections
    if np.abs(vertices).max() > 1e6 * gammas.max():
        raise ValueError("the planes do not enclose a bounded Wulff shape: add the symmetry-equivalent planes")
    tolerance = 1e-8 * gammas.max()
    facets, areas, energy = [], [], 0.0
    family_area = {int(label): 0.0 for label in families}
    for normal, gamma, label in zip(normals, gammas, families):
        on_plane = vertices[np.abs(vertices @ normal - gamma) < tolerance]
        if len(on_plane) < 3:
            continue
        polygon, area = _polygon(on_plane, normal)
        if area <= tolerance * gamma:
            continue
        facets.append((int(label), polygon))
        areas.append(area)
        energy += gamma * area
        family_area[int(label)] += area
    total = sum(areas)
    return WulffShape(
        vertices=vertices, facets=facets, facet_areas=areas,
        area_fractions={label: value / total for label, value in family_area.items()},
        volume=float(hull.volume), surface_energy=float(energy), families=sorted(family_area),
    )

