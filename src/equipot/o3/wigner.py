"""Wigner matrices of irreps in float64, exact to round-off.

e3nn's ``Irreps.D_from_matrix`` builds them from constants stored in float32 (its ``J``
matrices), so its matrices are accurate to ~3e-7 only, too coarse for symmetry tests at
1e-10. Here ``D_l(Q)`` is fitted from real spherical harmonics (e3nn's, evaluated in
float64): ``Y_l(Q x) = D_l(Q) Y_l(x)`` for a fixed set of directions ``x``, solved by least
squares; an improper ``R = -Q`` contributes the parity ``p`` of each irrep.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from e3nn import o3

__all__ = ["wigner_matrix"]


@functools.lru_cache(maxsize=16)
def _directions(l: int) -> tuple[torch.Tensor, torch.Tensor]:
    points = torch.as_tensor(np.random.default_rng(l).normal(size=(4 * l + 6, 3)), dtype=torch.float64)
    harmonics = o3.spherical_harmonics(l, points, normalize=True, normalization="component")
    return points, torch.linalg.pinv(harmonics)


def _proper(l: int, rotation: torch.Tensor) -> torch.Tensor:
    if l == 0:
        return torch.ones(1, 1, dtype=torch.float64)
    points, inverse = _directions(l)
    rotated = o3.spherical_harmonics(l, points @ rotation.T, normalize=True, normalization="component")
    return (inverse @ rotated).T  # rows: Y(Qx) = D Y(x) for every x


def wigner_matrix(irreps: o3.Irreps | str, rotation: np.ndarray) -> np.ndarray:
    """Block-diagonal ``D(R)`` [irreps.dim, irreps.dim] (float64) of an orthogonal ``R`` [3, 3],
    in e3nn's basis (``x -> D(R) x`` for a flat irreps vector; l=1 is x, y, z)."""
    rotation_t = torch.as_tensor(np.asarray(rotation), dtype=torch.float64)
    improper = bool(torch.linalg.det(rotation_t) < 0)
    proper = -rotation_t if improper else rotation_t
    blocks = []
    for mul, ir in o3.Irreps(irreps):
        block = _proper(ir.l, proper) * (ir.p if improper else 1)
        blocks.extend([block] * mul)
    return torch.block_diag(*blocks).numpy() if blocks else np.zeros((0, 0))
