"""The Voigt order of symmetric 3x3 tensors (ASE's): xx, yy, zz, yz, xz, xy.

Stress, strain and elastic constants are written in this order everywhere in equipot
(model outputs, data files, metrics, elastic matrices and their tables and plots).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from torch import Tensor

__all__ = ["VOIGT_NAMES", "VOIGT_PAIRS", "voigt_from_matrix"]

#: Voigt index -> Cartesian index pair
VOIGT_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
#: Voigt index -> component name
VOIGT_NAMES: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")

_ROWS = [i for i, _ in VOIGT_PAIRS]
_COLUMNS = [j for _, j in VOIGT_PAIRS]

Array = TypeVar("Array", np.ndarray, Tensor)


def voigt_from_matrix(matrix: Array) -> Array:
    """[..., 3, 3] symmetric tensors -> [..., 6] in Voigt order (no factors of 2), for
    numpy arrays and torch tensors alike (differentiable)."""
    return matrix[..., _ROWS, _COLUMNS]
