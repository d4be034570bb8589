"""Radial basis functions and the smooth cutoff envelope."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["BesselBasis", "PolynomialEnvelope"]


class BesselBasis(nn.Module):
    """Spherical Bessel functions of order zero, ``sqrt(2/rc) sin(n pi r / rc) / r``.

    Input ``r`` [n_edges] in Å, output [n_edges, num_basis].
    """

    def __init__(self, cutoff: float, num_basis: int = 8):
        super().__init__()
        self.cutoff = float(cutoff)
        frequencies = math.pi * torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) / cutoff
        self.register_buffer("frequencies", frequencies)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: Tensor) -> Tensor:
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies * r) / r


class PolynomialEnvelope(nn.Module):
    """Polynomial cutoff of Klicpera et al. (DimeNet): 1 at r = 0, and value, first and
    second derivatives all zero at r = cutoff, so energies and forces are continuous as a
    neighbor leaves.

    Input ``r`` [n_edges] in Å, output [n_edges] (zero beyond the cutoff).
    """

    def __init__(self, cutoff: float, exponent: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(exponent)

    def forward(self, r: Tensor) -> Tensor:
        p = self.p
        x = r / self.cutoff
        envelope = (
            1.0
            - (p + 1) * (p + 2) / 2 * x**p
            + p * (p + 2) * x ** (p + 1)
            - p * (p + 1) / 2 * x ** (p + 2)
        )
        return envelope * (x < 1.0)
