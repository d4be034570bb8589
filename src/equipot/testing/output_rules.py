"""How each output of a model transforms under a rotation R (proper or improper).

The energy outputs follow fixed rules; the outputs of heads follow what the model
declares through ``model.output_specs()`` (name -> `equipot.models.heads.OutputSpec`):
flat irreps transform with Wigner matrices ``D(R)`` in e3nn's basis, including parity (a
``0o`` pseudoscalar gets ``det R``; `equipot.o3.wigner_matrix`, exact in float64 where
e3nn's ``D_from_matrix`` is accurate to ~3e-7 only), Cartesian tensors with one ``R`` per
index (times ``det R`` for axial tensors).
"""

from __future__ import annotations

import numpy as np
import torch

from ..o3.cartesian import rotate_cartesian
from ..o3.wigner import wigner_matrix

__all__ = ["expected_transform", "is_per_atom", "output_spec"]

_PER_ATOM = ("forces", "atomic_energies")
_INVARIANT = ("energy", "atomic_energies")


def output_spec(model: torch.nn.Module, name: str):
    """The declared `OutputSpec` of head ``name``, or None for the energy outputs."""
    specs = model.output_specs() if hasattr(model, "output_specs") else {}
    return specs.get(name)


def is_per_atom(model: torch.nn.Module, name: str) -> bool:
    """Whether output ``name`` has one row per atom."""
    spec = output_spec(model, name)
    return name in _PER_ATOM if spec is None else bool(spec.per_atom)


def expected_transform(model: torch.nn.Module, name: str, value: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``value`` (one structure's output, per-atom rows first) after rotating the structure by ``rotation``."""
    if name == "forces":
        return value @ rotation.T
    if name in ("stress", "virial"):
        return rotation @ value @ rotation.T
    if name in _INVARIANT:
        return value
    spec = output_spec(model, name)
    if spec is None:
        raise KeyError(f"output {name!r} is neither an energy output nor a declared head of the model")
    if spec.irreps is not None:
        matrix = wigner_matrix(spec.irreps, rotation)
        if matrix.shape == (1, 1) and value.ndim == (1 if spec.per_atom else 0):  # one scalar, no trailing axis
            return value * matrix[0, 0]  # 0e: unchanged; 0o: sign of det(rotation)
        return value @ matrix.T
    assert spec.cartesian_rank is not None
    return rotate_cartesian(value, rotation, spec.cartesian_rank, pseudo=spec.pseudo)
