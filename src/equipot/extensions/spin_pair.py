"""The coupling of a pair of spins with the direction between them, from e3nn irreps.

``V(r, s1, s2) = V_c(|r|) + V_sigma(|r|) s1.s2 + V_T(|r|) S12``, S12 = 3 (s1.r_hat)(s2.r_hat)
- s1.s2: the three paths e3nn finds when it couples the spherical harmonics ``Y(r_hat)``
(``0e + 1o + 2e``) with the irreps of a pair of axial vectors (``1 + [s1 x s2]^(0,1,2)``)
into a scalar ``0e``; each path is weighted by a learned function of ``|r|``. Used by
`equipot.extensions.nuclear` (the two-nucleon tensor force) and
`equipot.extensions.spin_lattice` (exchange and pseudo-dipolar coupling of magnetic
moments).
"""

from __future__ import annotations

import numpy as np
import torch
from e3nn import o3
from torch import Tensor, nn

from equipot.nn import BesselBasis, PolynomialEnvelope, RadialMLP

PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex)
SH_IRREPS = o3.Irreps("0e + 1o + 2e")
PATH_NAMES = {(0, 0): "central", (0, 1): "spin_spin", (2, 3): "tensor"}


def pauli_pair(a: int, b: int) -> np.ndarray:
    """sigma_a (x) sigma_b, the 4 x 4 matrix acting on spin 1 (x) spin 2."""
    return np.kron(PAULI[a], PAULI[b])


class SpinPairCoupling(nn.Module):
    """V(r, s1, s2) of a pair of axial unit vectors (spins, magnetic moments), as e3nn's
    coupling of Y(r_hat) with the spin-pair irreps to 0e: ``V_c + V_sigma s1.s2 + V_T S12``.

    Units are those of the data (`TwoNucleonPotential`: fm and MeV; the spin-lattice
    model: Å and eV).

    Args:
        cutoff: length units; the radial functions go smoothly to zero there.
        num_basis: Bessel functions of |r|.
        hidden: width of the radial MLP.
        energy_scale: energy units; the raw output is multiplied by it (set it to the spread of
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
        """The learned radial weight of each path, [n, n_paths] (energy units, before e3nn's path
        normalisation)."""
        hidden = self.radial(self.basis(distance))
        return self.to_paths(hidden) * (self.envelope(distance) * self.energy_scale).unsqueeze(-1)

    def forward(self, r: Tensor, s1: Tensor, s2: Tensor) -> Tensor:
        """V (energy units), [n], for ``r``, ``s1``, ``s2`` [n, 3] (length units; unit spins)."""
        if r.shape[-1] != 3 or s1.shape != r.shape or s2.shape != r.shape:
            raise ValueError(
                f"r, s1 and s2 must all be [n, 3]; got {tuple(r.shape)}, {tuple(s1.shape)}, {tuple(s2.shape)}"
            )
        ones = torch.ones_like(r[..., :1])
        pair = torch.cat([ones, self.spin_product(s1, s2)], dim=-1)
        return self.coupling(self.sh(r), pair, self.path_weights(r.norm(dim=-1))).squeeze(-1)

    def spin_coupling(self, r: Tensor) -> tuple[Tensor, Tensor]:
        """The model written as ``V = c(r) + s1^T C(r) s2``: ``c`` [n] and ``C`` [n, 3, 3]
        (energy units), read off at the basis spins (exact, the model is bilinear in the spins)."""
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
        """The learned ``central``, ``spin_spin`` and ``tensor`` functions (energy units) at
        ``distance`` [n] (length units), read off along z: ``C = V_sigma 1 + V_T (3 z z^T - 1)``."""
        r = torch.zeros(distance.shape[0], 3, dtype=distance.dtype, device=distance.device)
        r[:, 2] = distance
        central, coupling = self.spin_coupling(r)
        spin_spin = coupling.diagonal(dim1=-2, dim2=-1).sum(-1) / 3
        return {"central": central, "spin_spin": spin_spin, "tensor": (coupling[:, 2, 2] - spin_spin) / 2}

    def operator(self, r: Tensor) -> np.ndarray:
        """V as a 4 x 4 matrix on the two-spin-1/2 states (Pauli spins), [n, 4, 4] complex
        (energy units), basis |up up>, |up down>, |down up>, |down down>."""
        central, coupling = (t.detach().cpu().numpy() for t in self.spin_coupling(r))
        matrices = central[:, None, None] * np.eye(4, dtype=complex)
        for a in range(3):
            for b in range(3):
                matrices = matrices + coupling[:, a, b, None, None] * pauli_pair(a, b)
        return matrices
