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
from e3nn import o3
from torch import Tensor, nn

from equipot.nn import BesselBasis, PolynomialEnvelope, RadialMLP

PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex)
SH_IRREPS = o3.Irreps("0e + 1o + 2e")
PATH_NAMES = {(0, 0): "central", (0, 1): "spin_spin", (2, 3): "tensor"}


def tensor_operator(r: Tensor, s1: Tensor, s2: Tensor) -> Tensor:
    """S12 = 3 (s1.r_hat)(s2.r_hat) - s1.s2 for classical spins. Shapes [n, 3] -> [n]."""
    r_hat = r / r.norm(dim=-1, keepdim=True)
    return 3 * (s1 * r_hat).sum(-1) * (s2 * r_hat).sum(-1) - (s1 * s2).sum(-1)


def pauli_pair(a: int, b: int) -> np.ndarray:
    """sigma_a (x) sigma_b, the 4 x 4 matrix acting on nucleon 1 (x) nucleon 2."""
    return np.kron(PAULI[a], PAULI[b])


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


class TwoNucleonPotential(nn.Module):
    """V(r, s1, s2) (MeV) as e3nn's coupling of Y(r_hat) with the spin-pair irreps to 0e.

    Args:
        cutoff: fm; the radial functions go smoothly to zero there.
        num_basis: Bessel functions of |r|.
        hidden: width of the radial MLP.
        energy_scale: MeV; the raw output is multiplied by it (set it to the spread of
            the training targets so the weights start at order one).
    """

    def __init__(
        self,
        cutoff: float = 6.0,
        num_basis: int = 8,
        hidden: int = 32,
        energy_scale: float = 1.0,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        self.cutoff = float(cutoff)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # e3nn computes its coefficients in the default dtype
        try:
            self.spin_product = o3.FullTensorProduct("1x1e", "1x1e")
            self.pair_irreps = o3.Irreps("0e") + self.spin_product.irreps_out  # 1 (central) + spin pair
            self.sh = o3.SphericalHarmonics(SH_IRREPS, normalize=True, normalization="component")
            self.coupling = o3.FullyConnectedTensorProduct(
                SH_IRREPS, self.pair_irreps, "0e", shared_weights=False, internal_weights=False
            )
            self.basis = BesselBasis(cutoff, num_basis)
        finally:
            torch.set_default_dtype(previous)
        self.envelope = PolynomialEnvelope(cutoff)
        self.radial = RadialMLP(num_basis, hidden)
        self.to_paths = nn.Linear(hidden, self.coupling.weight_numel)
        self.register_buffer("energy_scale", torch.tensor(float(energy_scale)))
        self.to(dtype)

    @property
    def path_names(self) -> list[str]:
        """The operator of each coupling path e3nn found, in the order of its weights."""
        names = []
        for ins in self.coupling.instructions:
            names.append(PATH_NAMES.get((ins.i_in1, ins.i_in2), f"{SH_IRREPS[ins.i_in1].ir} x {self.pair_irreps[ins.i_in2].ir}"))
        return names

    def path_weights(self, distance: Tensor) -> Tensor:
        """The learned radial weight of each path, [n, n_paths] (MeV, before e3nn's path
        normalisation)."""
        hidden = self.radial(self.basis(distance))
        return self.to_paths(hidden) * (self.envelope(distance) * self.energy_scale).unsqueeze(-1)

    def forward(self, r: Tensor, s1: Tensor, s2: Tensor) -> Tensor:
        """V (MeV), [n], for ``r``, ``s1``, ``s2`` [n, 3] (fm; unit spins)."""
        if r.shape[-1] != 3 or s1.shape != r.shape or s2.shape != r.shape:
            raise ValueError(
                f"r, s1 and s2 must all be [n, 3]; got {tuple(r.shape)}, {tuple(s1.shape)}, {tuple(s2.shape)}"
            )
        ones = torch.ones_like(r[..., :1])
        pair = torch.cat([ones, self.spin_product(s1, s2)], dim=-1)
        return self.coupling(self.sh(r), pair, self.path_weights(r.norm(dim=-1))).squeeze(-1)

    def spin_coupling(self, r: Tensor) -> tuple[Tensor, Tensor]:
        """The model written as ``V = c(r) + s1^T C(r) s2``: ``c`` [n] and ``C`` [n, 3, 3]
        (MeV), read off at the basis spins (exact, the model is bilinear in the spins)."""
        n = r.shape[0]
        zero = torch.zeros_like(r)
        central = self(r, zero, zero)
        eye = torch.eye(3, dtype=r.dtype, device=r.device)
        rows = []
        for a in range(3):
            s1 = eye[a].expand(n, 3)
            rows.append(torch.stack([self(r, s1, eye[b].expand(n, 3)) - central for b in range(3)], dim=-1))
        return central, torch.stack(rows, dim=-2)

    def radial_functions(self, distance: Tensor) -> dict[str, Tensor]:
        """The learned ``central``, ``spin_spin`` and ``tensor`` functions (MeV) at
        ``distance`` [n] (fm), read off along z: ``C = V_sigma 1 + V_T (3 z z^T - 1)``."""
        r = torch.zeros(distance.shape[0], 3, dtype=distance.dtype, device=distance.device)
        r[:, 2] = distance
        central, coupling = self.spin_coupling(r)
        spin_spin = coupling.diagonal(dim1=-2, dim2=-1).sum(-1) / 3
        return {"central": central, "spin_spin": spin_spin, "tensor": (coupling[:, 2, 2] - spin_spin) / 2}

    def operator(self, r: Tensor) -> np.ndarray:
        """V as a 4 x 4 matrix on the two-spin-1/2 states (Pauli spins), [n, 4, 4] complex
        (MeV), basis |up up>, |up down>, |down up>, |down down>."""
        central, coupling = (t.detach().cpu().numpy() for t in self.spin_coupling(r))
        matrices = central[:, None, None] * np.eye(4, dtype=complex)
        for a in range(3):
            for b in range(3):
                matrices = matrices + coupling[:, a, b, None, None] * pauli_pair(a, b)
        return matrices


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
