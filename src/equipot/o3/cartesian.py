"""Cartesian tensors <-> irreps, and their rotation rules.

A Cartesian tensor of rank r with index symmetries (e3nn's formula syntax: ``ij=ji`` for
a symmetric matrix, ``ijk=ikj`` for piezoelectric, ``ijkl=jikl=klij`` for elastic
constants) spans a subspace of ``(1o)^{⊗r}`` that decomposes into irreps, e.g.
``ij=ji -> 0e+2e`` (trace and traceless symmetric part). A network predicts the irreps
coefficients ``x [..., irreps.dim]``; ``x @ Q`` with the change of basis ``Q [irreps.dim,
3, ..., 3]`` gives the Cartesian tensor, whose index symmetries then hold exactly.

A polar tensor transforms as ``T'_{ab..} = R_ai R_bj .. T_ij..``; an axial (pseudo)
tensor gets an extra factor ``det(R)`` (its irreps have flipped parity).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from e3nn import o3
from torch import Tensor

from .voigt import VOIGT_PAIRS

__all__ = [
    "cartesian_change_of_basis",
    "cartesian_irreps",
    "cartesian_rank",
    "rotate_cartesian",
    "voigt_from_cartesian",
]


def cartesian_rank(formula: str) -> int:
    """Number of indices of ``formula`` (``ijk=ikj`` -> 3)."""
    return len(formula.split("=")[0].replace("-", ""))


@functools.lru_cache(maxsize=32)
def _basis(formula: str) -> tuple[str, Tensor]:
    if cartesian_rank(formula) == 1:  # e3nn's l=1 basis is (x, y, z)
        return "1x1o", torch.eye(3, dtype=torch.float64)
    from e3nn import io  # here, not at the top: e3nn.io loads scipy.signal (start-up time)

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn computes the basis in the default dtype
    try:
        tensor = io.CartesianTensor(formula)
        change = tensor.reduced_tensor_products().change_of_basis.to(torch.float64)
    finally:
        torch.set_default_dtype(previous)
    return str(tensor), change.detach().clone()


def cartesian_irreps(formula: str, pseudo: bool = False) -> o3.Irreps:
    """Irreps of the Cartesian tensors with symmetries ``formula`` (parities flipped if ``pseudo``).

    >>> str(cartesian_irreps("ij=ji")), str(cartesian_irreps("ijk=ikj"))
    ('1x0e+1x2e', '2x1o+1x2o+1x3o')
    """
    irreps = o3.Irreps(_basis(formula)[0])
    if pseudo:
        irreps = o3.Irreps([(mul, (ir.l, -ir.p)) for mul, ir in irreps])
    return irreps


def cartesian_change_of_basis(formula: str) -> Tensor:
    """``Q`` [irreps.dim, 3, ..., 3] (float64): Cartesian tensor = ``x @ Q.flatten(1)``.

    Computed once per formula with e3nn's `ReducedTensorProducts` (about a second for rank 4).
    """
    return _basis(formula)[1].clone()


def rotate_cartesian(tensor: np.ndarray | Tensor, rotation: np.ndarray | Tensor, rank: int, pseudo: bool = False):
    """Apply ``rotation`` [3, 3] to each of the last ``rank`` indices of ``tensor``.

    ``T'_{..ab..} = R_ai R_bj .. T_{..ij..}`` (times ``det(R)`` if ``pseudo``): ``R v`` for
    vectors, ``R T R^T`` for matrices. Works on numpy arrays and torch tensors.
    """
    is_torch = isinstance(tensor, Tensor)
    result = tensor
    ndim = tensor.ndim
    for axis in range(ndim - rank, ndim):
        if is_torch:
            result = torch.movedim(torch.tensordot(result, rotation, dims=([axis], [1])), -1, axis)
        else:
            result = np.moveaxis(np.tensordot(result, rotation, axes=([axis], [1])), -1, axis)
    if pseudo:
        determinant = torch.linalg.det(rotation) if is_torch else np.linalg.det(rotation)
        result = result * determinant
    return result


def voigt_from_cartesian(tensor: np.ndarray) -> np.ndarray:
    """A rank-4 tensor [..., 3, 3, 3, 3] with minor symmetries as a Voigt matrix [..., 6, 6]
    (order xx yy zz yz xz xy, no factors of 2: ``C_IJ = C_ijkl``)."""
    tensor = np.asarray(tensor)
    rows = [[tensor[..., i, j, k, l] for k, l in VOIGT_PAIRS] for i, j in VOIGT_PAIRS]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)
