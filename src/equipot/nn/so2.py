"""SO(2)-equivariant layers: features that are angular Fourier modes in a plane.

A feature tensor is complex, ``[n, channels, mmax + 1]``: entry ``m`` is the mode
``z_m ~ e^(i m theta)``, ``m = 0 .. mmax`` (``m = 0`` is real; for real signals the
negative modes are ``z_-m = conj(z_m)`` and are not stored). A rotation of the plane by
``phi`` multiplies mode ``m`` by ``e^(i m phi)`` (`rotate_modes`). The 2-D vector
``(x, y)`` is the ``m = 1`` mode ``x + i y``.

By Schur's lemma a linear map that commutes with every rotation maps mode ``m`` only to
mode ``m``, and there it is one complex number per pair of channels (a 2 x 2
rotation-scaling block in real terms): `SO2Linear`. Modes mix only through products,
where ``e^(i m1 theta) e^(i m2 theta) = e^(i (m1 + m2) theta)`` (SO(2)'s Clebsch-Gordan
rule): `SO2Convolution` couples the neighbours' modes with the circular harmonics of the
edge directions this way. `SO2NormGate` is the nonlinearity: SiLU on the invariant ``m = 0``
mode, and each ``m > 0`` mode scaled by a sigmoid of invariants (``m = 0`` values and mode
norms), which commutes with rotations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .interaction import RadialMLP
from .radial import BesselBasis, PolynomialEnvelope
from .scatter import scatter_sum

__all__ = ["SO2Convolution", "SO2Linear", "SO2NormGate", "circular_harmonics", "rotate_modes"]


def _mode_numbers(mmax: int, like: Tensor) -> Tensor:
    return torch.arange(mmax + 1, device=like.device, dtype=like.real.dtype)


def rotate_modes(features: Tensor, angle: float | Tensor) -> Tensor:
    """Features ``[n, channels, mmax + 1]`` after rotating the plane by ``angle`` (rad)."""
    m = _mode_numbers(features.shape[-1] - 1, features)
    return features * torch.polar(torch.ones_like(m), m * torch.as_tensor(angle, dtype=m.dtype))


def circular_harmonics(vectors: Tensor, mmax: int) -> Tensor:
    """``e^(i m theta)`` of 2-D ``vectors`` [n, 2], m = 0 .. mmax: complex [n, mmax + 1]."""
    theta = torch.atan2(vectors[:, 1], vectors[:, 0])
    m = _mode_numbers(mmax, vectors)
    return torch.polar(torch.ones_like(theta)[:, None], theta[:, None] * m)


def _real_part_of_mode_zero(features: Tensor) -> Tensor:
    # m = 0 is invariant and real; a product path can leave a round-off imaginary part
    return torch.cat([features[..., :1].real.to(features.dtype), features[..., 1:]], dim=-1)


class SO2Linear(nn.Module):
    """``out_m = W_m in_m`` with ``W_m`` complex ``[channels_out, channels_in]`` per ``m > 0``,
    real for ``m = 0`` (plus a bias there only). [n, channels_in, mmax + 1] ->
    [n, channels_out, mmax + 1], complex."""

    def __init__(self, channels_in: int, channels_out: int, mmax: int, bias: bool = True):
        super().__init__()
        self.mmax = int(mmax)
        scale = 1 / math.sqrt(channels_in)
        self.weight_real = nn.Parameter(torch.randn(mmax + 1, channels_out, channels_in) * scale)
        self.weight_imag = nn.Parameter(torch.randn(mmax, channels_out, channels_in) * scale)
        self.bias = nn.Parameter(torch.zeros(channels_out)) if bias else None

    def forward(self, features: Tensor) -> Tensor:
        imag = torch.cat([torch.zeros_like(self.weight_imag[:1]), self.weight_imag])
        weight = torch.complex(self.weight_real, imag)  # [mmax + 1, out, in]
        out = torch.einsum("moi,nim->nom", weight, features)
        if self.bias is not None:
            out = torch.cat([out[..., :1] + self.bias[:, None], out[..., 1:]], dim=-1)
        return out


class SO2NormGate(nn.Module):
    """SiLU on ``m = 0``; ``z_m -> z_m sigmoid(g)`` for ``m > 0``, with gates ``g`` [channels x
    mmax] a linear function of the invariants (``m = 0`` values and the norms ``|z_m|``)."""

    def __init__(self, channels: int, mmax: int, eps: float = 1e-8):
        super().__init__()
        self.mmax = int(mmax)
        self.eps = eps
        self.gates = nn.Linear(channels * (mmax + 1), channels * mmax) if mmax > 0 else None

    def forward(self, features: Tensor) -> Tensor:
        scalars = features[..., 0].real
        out0 = torch.nn.functional.silu(scalars).to(features.dtype)[..., None]
        if self.gates is None:
            return out0
        norms = (features[..., 1:].abs() ** 2 + self.eps).sqrt()  # smooth at zero
        invariants = torch.cat([scalars, norms.flatten(1)], dim=-1)
        gates = torch.sigmoid(self.gates(invariants)).view(features.shape[0], features.shape[1], self.mmax)
        return torch.cat([out0, features[..., 1:] * gates], dim=-1)


class SO2Convolution(nn.Module):
    """Messages over the edges of 2-D point sets, coupled by SO(2)'s product rule.

    ``out_i[c, m] = sum_j sum_{m1 + m2 = m} w_p,c(r_ij) z_j[c, m1] e^(i m2 theta_ij) / avg_neighbors``
    over all paths ``p = (m1, m2)`` with ``|m1|, |m2| <= mmax`` (negative modes are complex
    conjugates), each with a learned real radial weight per channel (an MLP of a Bessel
    basis times a smooth cutoff). ``theta_ij`` is the angle of ``x_j - x_i``.
    """

    def __init__(self, channels: int, mmax: int, cutoff: float, num_basis: int = 8, hidden: int = 16,
                 avg_neighbors: float = 1.0):
        super().__init__()
        self.channels, self.mmax = int(channels), int(mmax)
        self.paths = [(m1, m - m1) for m in range(mmax + 1) for m1 in range(-mmax, mmax + 1) if abs(m - m1) <= mmax]
        self.basis = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialEnvelope(cutoff)
        self.radial = RadialMLP(num_basis, hidden)
        self.to_weights = nn.Linear(hidden, len(self.paths) * channels)
        self.avg_neighbors = float(avg_neighbors)
        self.register_buffer("feature_index", torch.tensor([m1 + mmax for m1, _ in self.paths]), persistent=False)
        self.register_buffer("harmonic_index", torch.tensor([m2 + mmax for _, m2 in self.paths]), persistent=False)
        path_to_mode = torch.zeros(len(self.paths), mmax + 1)
        for p, (m1, m2) in enumerate(self.paths):
            path_to_mode[p, m1 + m2] = 1.0
        self.register_buffer("path_to_mode", path_to_mode, persistent=False)

    def _signed_modes(self, modes: Tensor) -> Tensor:
        """Modes ``m = -mmax .. mmax`` from ``m = 0 .. mmax`` (negative = conjugate), last axis."""
        return torch.cat([modes[..., 1:].flip(-1).conj(), modes], dim=-1)

    def forward(self, features: Tensor, vectors: Tensor, senders: Tensor, receivers: Tensor) -> Tensor:
        """``features`` [n, channels, mmax + 1] complex; ``vectors`` [n_edges, 2] = x_sender -
        x_receiver; returns [n, channels, mmax + 1] complex."""
        length = vectors.norm(dim=-1)
        weights = self.to_weights(self.radial(self.basis(length))) * self.envelope(length)[:, None]
        weights = weights.view(-1, self.channels, len(self.paths))
        harmonics = self._signed_modes(circular_harmonics(vectors, self.mmax))[:, self.harmonic_index]  # [E, P]
        neighbours = self._signed_modes(features)[senders][..., self.feature_index]  # [E, C, P]
        products = neighbours * (harmonics[:, None, :] * weights)
        messages = products @ self.path_to_mode.to(products.dtype)  # [E, C, mmax + 1]
        out = scatter_sum(messages, receivers, features.shape[0]) / self.avg_neighbors
        return _real_part_of_mode_zero(out)
