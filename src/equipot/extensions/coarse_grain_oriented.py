"""Oriented coarse-grained beads: one bead per molecule with a position and a direction,
forces and torques from an equivariant bead potential.

Mapping (`OrientedBeadMapping`): bead I sits at the centre of mass ``R_I`` of its group
and carries the unit vector ``u_I = (r_a - R_I) / |r_a - R_I|`` from the centre of mass
to one chosen atom ``a`` of the group (for methanol, the oxygen). ``u`` is a difference of
positions, a true (polar) vector, irreps ``1o``: it flips under inversion. Mapped bead
force ``F_I = sum_(i in I) f_i`` and mapped torque ``tau_I = sum_(i in I) (r_i - R_I) x f_i``
(eV), the torque of the atomic forces about the centre of mass.

A single direction does not fix a rigid body: a rotation about ``u_I`` leaves ``u_I``
unchanged. A bead potential ``E(R, u)`` has the torque ``tau = -u x dE/du`` (the energy
change under a small rotation ``u -> u + dtheta x u`` is ``-tau . dtheta``), which is
perpendicular to ``u`` by construction; force-and-torque matching therefore matches only
``tau_perp = tau - (tau . u) u`` of the mapped torque (`perpendicular`). The spin of the
molecule about its own axis is coarse-grained away.

Potential (`OrientedBeadPotential`): ``E = 1/2 sum_(i != j) V(r_ij, u_i, u_j)`` over bead
pairs within the cutoff, ``V = sum_k w_k(r) a^p b^q c^s`` with ``a = u_i . r_hat``,
``b = u_j . r_hat``, ``c = u_i . u_j`` and learned radial weights (`OrientedPairCoupling`):
the O(3) invariants of the pair, the same function space as e3nn's coupling of
``Y(r_hat)`` with ``Y(u_i) x Y(u_j)`` into ``0e`` for ``1o`` orientations
(`irreps_coupling`; the pattern of `SpinPairCoupling` with polar, not axial, directions),
written as invariants because that is several times cheaper per pair. E is invariant under
rotations, reflections, translations and permutations of the beads; forces ``-dE/dR`` and
torques ``-u x dE/du`` come from autograd (`oriented_bead_derivatives`). An optional fixed repulsion ``A (sigma/r)^12`` (smoothly
cut off) keeps CG MD out of distances the data never sampled.
"""

from __future__ import annotations

import numpy as np
import torch
from e3nn import o3
from torch import Tensor, nn

from equipot.nn import BesselBasis, PolynomialEnvelope, RadialMLP

from .coarse_grain import BeadMapping
from .spin_lattice import LatticeEdges, spin_lattice_derivatives


class OrientedBeadMapping(BeadMapping):
    """`BeadMapping` with one orientation atom per bead (``orientation_atoms``, atom indices,
    each in its bead's group). Positions Å, masses amu, forces eV/Å, torques eV."""

    def __init__(self, groups: list[list[int]], orientation_atoms: list[int], bead_types: list[int] | None = None):
        super().__init__(groups, bead_types)
        if len(orientation_atoms) != self.n_beads or any(
            a not in group for a, group in zip(orientation_atoms, self.groups)
        ):
            raise ValueError("orientation_atoms must name one atom of each group, in the order of the groups")
        self.orientation_atoms = list(orientation_atoms)

    @classmethod
    def molecules(cls, n_molecules: int, groups_in_molecule: list[list[int]], orientation_in_molecule: list[int],
                  types_in_molecule: list[int] | None = None) -> OrientedBeadMapping:
        """The same grouping and orientation atoms (indices within one molecule) repeated over
        ``n_molecules`` consecutive molecules."""
        size = 1 + max(i for g in groups_in_molecule for i in g)
        plain = BeadMapping.molecules(n_molecules, groups_in_molecule, types_in_molecule)
        atoms = [m * size + a for m in range(n_molecules) for a in orientation_in_molecule]
        return cls(plain.groups, atoms, plain.bead_types)

    def orientations(self, positions: np.ndarray, masses: np.ndarray, cell: np.ndarray | None = None) -> np.ndarray:
        """Unit vectors [n_beads, 3] from each centre of mass to its orientation atom."""
        toward = self.offsets(positions, masses, cell)[self.orientation_atoms]
        return toward / np.linalg.norm(toward, axis=1, keepdims=True)

    def torques(self, positions: np.ndarray, forces: np.ndarray, masses: np.ndarray,
                cell: np.ndarray | None = None) -> np.ndarray:
        """[n_beads, 3] (eV): ``sum_(i in I) (r_i - R_I) x f_i``, the whole torque (see
        `perpendicular` for the part a bead potential can match)."""
        if forces.shape != (self.n_atoms, 3):
            raise ValueError(f"forces must be [{self.n_atoms}, 3] for this mapping; got {forces.shape}")
        summed = np.zeros((self.n_beads, 3))
        np.add.at(summed, self.owner, np.cross(self.offsets(positions, masses, cell), forces))
        return summed

    def moments_of_inertia(self, positions: np.ndarray, masses: np.ndarray,
                           cell: np.ndarray | None = None) -> np.ndarray:
        """[n_beads] (amu Å^2): each group's moment of inertia about an axis through its centre
        of mass perpendicular to its orientation, averaged over such axes,
        ``sum_i m_i (|d_i|^2 + (d_i . u)^2) / 2`` with ``d_i = r_i - R_I``."""
        offsets = self.offsets(positions, masses, cell)
        along = (offsets * self.orientations(positions, masses, cell)[self.owner]).sum(-1)
        per_atom = masses * ((offsets**2).sum(-1) + along**2) / 2
        return np.bincount(self.owner, weights=per_atom, minlength=self.n_beads)


def perpendicular(torques: Tensor, orientations: Tensor) -> Tensor:
    """``tau - (tau . u) u``, [n, 3]: the part of each torque that rotates its unit ``u``."""
    return torques - (torques * orientations).sum(-1, keepdim=True) * orientations


def orientation_exponents(degree: int) -> list[tuple[int, int, int]]:
    """``(p, q, s)`` of the invariants ``a^p b^q c^s`` (``a = u1 . r_hat``, ``b = u2 . r_hat``,
    ``c = u1 . u2``) of degree at most ``degree`` in each orientation (``p + s``, ``q + s``)."""
    return [(p, q, s) for s in range(degree + 1) for p in range(degree + 1 - s) for q in range(degree + 1 - s)]


class OrientedPairCoupling(nn.Module):
    """``V(r, u1, u2) = sum_k w_k(|r|) a^p_k b^q_k c^s_k`` (eV) of a pair of beads with unit
    polar orientations, ``a = u1 . r_hat``, ``b = u2 . r_hat``, ``c = u1 . u2``, over the
    monomials of degree at most ``degree`` in each orientation (`orientation_exponents`;
    14 for degree 2), each weighted by a learned function of ``|r|`` (Bessel basis, MLP,
    polynomial envelope to zero at ``cutoff`` Å).

    These are all the O(3) invariants of (r_hat, u1, u2) of that degree (the triple
    product ``(u1 x u2) . r_hat`` is a pseudoscalar and is left out), so the function space
    is the one of e3nn's coupling of ``Y(r_hat)`` with ``Y(u1) x Y(u2)`` (l <= ``degree``
    each, ``1o`` inputs) into ``0e`` (`irreps_coupling` builds that and the tests check
    that its paths lie in this span), at a fraction of the cost per pair.
    """

    def __init__(self, cutoff: float, degree: int = 2, num_basis: int = 8, hidden: int = 32,
                 energy_scale: float = 1.0, dtype: torch.dtype = torch.float64):
        super().__init__()
        if degree < 0:
            raise ValueError(f"degree must be at least 0, got {degree}")
        self.cutoff, self.degree = float(cutoff), int(degree)
        self.register_buffer("exponents", torch.tensor(orientation_exponents(degree), dtype=torch.long))
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            self.basis = BesselBasis(cutoff, num_basis)
        finally:
            torch.set_default_dtype(previous)
        self.envelope = PolynomialEnvelope(cutoff)
        self.radial = RadialMLP(num_basis, hidden)
        self.to_paths = nn.Linear(hidden, len(self.exponents))
        self.register_buffer("energy_scale", torch.tensor(float(energy_scale)))
        self.to(dtype)

    def invariants(self, r: Tensor, u1: Tensor, u2: Tensor) -> Tensor:
        """``a^p b^q c^s`` for each pair and monomial, [n, n_monomials]."""
        direction = r / r.norm(dim=-1, keepdim=True)
        cosines = torch.stack([(u1 * direction).sum(-1), (u2 * direction).sum(-1), (u1 * u2).sum(-1)], dim=-1)
        powers = torch.stack([cosines**k for k in range(self.degree + 1)], dim=1)  # [n, degree + 1, 3]
        return powers[:, self.exponents[:, 0], 0] * powers[:, self.exponents[:, 1], 1] * powers[:, self.exponents[:, 2], 2]

    def forward(self, r: Tensor, u1: Tensor, u2: Tensor) -> Tensor:
        """V, [n] (eV), for pair vectors ``r`` (Å) and orientations ``u1``, ``u2``, all [n, 3]."""
        distance = r.norm(dim=-1)
        weights = self.to_paths(self.radial(self.basis(distance)))
        weights = weights * (self.envelope(distance) * self.energy_scale).unsqueeze(-1)
        return (weights * self.invariants(r, u1, u2)).sum(-1)


def irreps_coupling(degree: int) -> tuple[o3.SphericalHarmonics, o3.FullTensorProduct, o3.FullyConnectedTensorProduct]:
    """e3nn's route to the same invariants: spherical harmonics of the orientations (l <=
    ``degree``, parity ``(-1)^l``), their full tensor product, and its coupling with the
    spherical harmonics of ``r_hat`` (l <= 2 ``degree``) into ``0e`` with one weight per path
    (``shared_weights=False``)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        orientation = o3.SphericalHarmonics(o3.Irreps.spherical_harmonics(degree, p=-1), True, "component")
        product = o3.FullTensorProduct(orientation.irreps_out, orientation.irreps_out)
        pair = o3.Irreps.spherical_harmonics(2 * degree, p=-1)
        coupling = o3.FullyConnectedTensorProduct(pair, product.irreps_out, "0e", shared_weights=False,
                                                  internal_weights=False)
    finally:
        torch.set_default_dtype(previous)
    return orientation, product, coupling


class OrientedBeadPotential(nn.Module):
    """Energy (eV) of oriented beads: half the sum over directed pairs within ``cutoff`` (Å)
    of `OrientedPairCoupling`, plus ``repulsion * (repulsion_distance / r)^12 * f(r)`` per
    pair (``f`` the polynomial envelope, zero at the cutoff; fixed, not learned; off when
    ``repulsion_distance`` is None).

    ``forward(positions [n, 3] Å, orientations [n, 3] unit, edges) -> E`` (scalar, eV), with
    ``edges`` from `equipot.extensions.lattice_edges` (directed pairs and periodic offsets).
    """

    def __init__(self, cutoff: float = 6.0, degree: int = 2, num_basis: int = 8, hidden: int = 32,
                 energy_scale: float = 1.0, repulsion_distance: float | None = None, repulsion: float = 0.01,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.cutoff = float(cutoff)
        self.pair = OrientedPairCoupling(cutoff, degree, num_basis, hidden, energy_scale, dtype)
        self.repulsion_distance, self.repulsion = repulsion_distance, float(repulsion)

    def pair_energies(self, positions: Tensor, orientations: Tensor, edges: LatticeEdges) -> Tensor:
        """Half the energy of each directed pair, [n_edges] (eV); they sum to E."""
        if orientations.shape != positions.shape or positions.ndim != 2 or positions.shape[-1] != 3:
            raise ValueError(f"positions and orientations must both be [n_beads, 3]; got {tuple(positions.shape)} "
                             f"and {tuple(orientations.shape)}")
        vectors = edges.vectors(positions)
        energies = self.pair(vectors, orientations[edges.receivers], orientations[edges.senders])
        if self.repulsion_distance is not None:
            distance = vectors.norm(dim=-1)
            energies = energies + self.repulsion * (self.repulsion_distance / distance) ** 12 * self.pair.envelope(distance)
        return 0.5 * energies

    def forward(self, positions: Tensor, orientations: Tensor, edges: LatticeEdges) -> Tensor:
        return self.pair_energies(positions, orientations, edges).sum()


def oriented_bead_derivatives(
    potential: nn.Module, positions: Tensor, orientations: Tensor, edges: LatticeEdges, create_graph: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(energy, forces, torques)``: E (eV), ``-dE/dR`` [n, 3] (eV/Å) at fixed orientations,
    and ``-u x dE/du`` [n, 3] (eV), by autograd."""
    energy, forces, minus_gradient = spin_lattice_derivatives(potential, positions, orientations, edges, create_graph)
    return energy, forces, torch.cross(orientations.to(minus_gradient.dtype), minus_gradient, dim=-1)


def force_torque_matching_loss(
    potential: nn.Module, positions: Tensor, orientations: Tensor, edges: LatticeEdges, forces: Tensor,
    torques: Tensor, torque_weight: float = 1.0,
) -> Tensor:
    """``mean |F - F_ref|^2 + torque_weight * mean |tau - tau_ref,perp|^2`` over beads and
    components ((eV/Å)^2 + (eV)^2 times the weight, in Å^-2); only the part of the mapped
    ``torques`` perpendicular to the orientations is matched. Differentiable in the
    potential's parameters."""
    _, predicted_forces, predicted_torques = oriented_bead_derivatives(potential, positions, orientations, edges,
                                                                       create_graph=True)
    force_error = (predicted_forces - forces.to(predicted_forces.dtype)).pow(2).mean()
    target = perpendicular(torques.to(predicted_torques.dtype), orientations.to(predicted_torques.dtype))
    return force_error + torque_weight * (predicted_torques - target).pow(2).mean()
