"""A two-nucleon potential with central, spin-spin and tensor parts, from e3nn irreps.

Inputs: the relative position ``r = r_1 - r_2`` [n, 3] (fm) and the two spins ``s1``,
``s2`` [n, 3], classical unit vectors (axial vectors, irreps ``1e``). Output: ``V``
[n] (MeV). The model couples the spherical harmonics of the direction,
``Y(r_hat)`` = ``0e + 1o + 2e``, with the irreps of the spin pair,
``1 (0e) + [s1 x s2]^(0) (0e) + [s1 x s2]^(1) (1e) + [s1 x s2]^(2) (2e)``, into a scalar
``0e``, each path weighted by a learned function of ``|r|``. e3nn finds exactly three
paths, which are the three operators a static two-nucleon force bilinear in the spins
may contain:

    V = V_c(r) + V_sigma(r) s1.s2 + V_T(r) S12,     S12 = 3 (s1.r_hat)(s2.r_hat) - s1.s2

``Y^2(r_hat) . [s1 x s2]^(2)`` is S12 up to a constant, so the tensor operator is built
in, not learned; what is learned are the three radial functions. The fourth invariant one
might write, ``r_hat . (s1 x s2)`` (``1o x 1e``), is a pseudoscalar ``0o``: parity forbids
it, and coupling to ``0e`` leaves it out.

The model is bilinear in the spins, so it is also an operator on the four two-spin-1/2
states: `TwoNucleonPotential.operator` replaces ``s1_a s2_b`` by ``sigma_a (x) sigma_b``
(Pauli matrices), which gives a 4 x 4 Hermitian matrix for each ``r``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .spin_pair import PAULI, SH_IRREPS, SpinPairCoupling, pauli_pair

__all__ = [
    "SH_IRREPS",
    "ToyNucleonReference",
    "TwoNucleonPotential",
    "angular_structure_error",
    "pauli_pair",
    "relative_error",
    "sample_configurations",
    "tensor_operator",
    "tensor_operator_matrix",
]


def tensor_operator(r: Tensor, s1: Tensor, s2: Tensor) -> Tensor:
    """S12 = 3 (s1.r_hat)(s2.r_hat) - s1.s2 for classical spins. Shapes [n, 3] -> [n]."""
    r_hat = r / r.norm(dim=-1, keepdim=True)
    return 3 * (s1 * r_hat).sum(-1) * (s2 * r_hat).sum(-1) - (s1 * s2).sum(-1)


@dataclass(frozen=True)
class ToyNucleonReference:
    """A toy nucleon-nucleon potential of known central, spin-spin and tensor form (MeV, fm).

    Central: Malfliet-Tjon-like repulsion minus attraction,
    ``V_c = A_r exp(-mu_r r)/r - A_a exp(-mu_a r)/r``. Spin-spin and tensor: one-pion
    exchange in the isospin-0 channel, ``V_sigma = g Y(x) R(r)``, ``V_T = g T(x) R(r)``
    with ``x = m_pi r``, ``Y = exp(-x)/x``, ``T = (1 + 3/x + 3/x^2) Y`` and the Gaussian
    regulator ``R = (1 - exp(-(r/b)^2))^3`` that tames the 1/r^3 at short range.
    """

    repulsion: float = 1438.72  # MeV fm
    repulsion_range: float = 3.11  # 1/fm
    attraction: float = 626.885  # MeV fm
    attraction_range: float = 1.55  # 1/fm
    pion_coupling: float = -10.35  # MeV: (f^2/4pi) (m_pi/3) tau1.tau2, tau1.tau2 = -3
    pion_mass: float = 0.699  # 1/fm (138 MeV / 197.33 MeV fm)
    regulator: float = 1.0  # fm

    def _pion(self, distance: Tensor) -> tuple[Tensor, Tensor]:
        x = self.pion_mass * distance
        yukawa = torch.exp(-x) / x
        regulator = (1 - torch.exp(-((distance / self.regulator) ** 2))) ** 3
        return yukawa * regulator, (1 + 3 / x + 3 / x**2) * yukawa * regulator

    def radial_functions(self, distance: Tensor) -> dict[str, Tensor]:
        """``central``, ``spin_spin`` and ``tensor`` (MeV) at ``distance`` [n] (fm)."""
        central = (
            self.repulsion * torch.exp(-self.repulsion_range * distance)
            - self.attraction * torch.exp(-self.attraction_range * distance)
        ) / distance
        yukawa, tensor = self._pion(distance)
        return {"central": central, "spin_spin": self.pion_coupling * yukawa, "tensor": self.pion_coupling * tensor}

    def __call__(self, r: Tensor, s1: Tensor, s2: Tensor) -> Tensor:
        """V (MeV) for relative positions ``r`` [n, 3] (fm) and spins ``s1``, ``s2`` [n, 3]."""
        parts = self.radial_functions(r.norm(dim=-1))
        return parts["central"] + parts["spin_spin"] * (s1 * s2).sum(-1) + parts["tensor"] * tensor_operator(r, s1, s2)


def sample_configurations(
    n: int, min_distance: float = 0.6, max_distance: float = 4.5, seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` random (r, s1, s2): |r| uniform in [min, max] fm, directions and unit spins
    uniform on the sphere. Each [n, 3]."""
    generator = torch.Generator().manual_seed(seed)

    def directions() -> Tensor:
        v = torch.randn(n, 3, generator=generator, dtype=dtype)
        return v / v.norm(dim=-1, keepdim=True)

    distance = min_distance + (max_distance - min_distance) * torch.rand(n, 1, generator=generator, dtype=dtype)
    return distance * directions(), directions(), directions()


class TwoNucleonPotential(SpinPairCoupling):
    """`SpinPairCoupling` for two nucleons: ``r`` in fm, ``V`` in MeV, spins as classical
    unit vectors (or, through `operator`, Pauli matrices)."""


def tensor_operator_matrix(r_hat: np.ndarray) -> np.ndarray:
    """S12 as a 4 x 4 matrix for the unit direction ``r_hat`` [3]."""
    sigma_r = np.einsum("a,aij->ij", r_hat, PAULI)
    one = np.eye(2)
    return 3 * np.kron(sigma_r, one) @ np.kron(one, sigma_r) - sum(pauli_pair(a, a) for a in range(3))


def relative_error(fitted: Tensor, reference: Tensor) -> float:
    """RMS of ``fitted - reference`` over the RMS of ``reference``."""
    return float((fitted - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt())


def angular_structure_error(model: TwoNucleonPotential, r: Tensor) -> float:
    """Largest deviation of the model's traceless spin coupling from ``V_T(r) (3 r_hat
    r_hat^T - 1)``, relative to ``max |V_T|``: zero when the learned tensor part is
    exactly ``V_T(r) S12``."""
    _, coupling = model.spin_coupling(r)
    isotropic = coupling.diagonal(dim1=-2, dim2=-1).sum(-1) / 3
    traceless = coupling - isotropic[:, None, None] * torch.eye(3, dtype=r.dtype)
    v_t = model.radial_functions(r.norm(dim=-1))["tensor"]
    r_hat = r / r.norm(dim=-1, keepdim=True)
    expected = v_t[:, None, None] * (3 * r_hat[:, :, None] * r_hat[:, None, :] - torch.eye(3, dtype=r.dtype))
    return float((traceless - expected).abs().max().detach() / v_t.abs().max().detach().clamp_min(math.ulp(1.0)))
