"""Spin-lattice models: energies of atoms with magnetic moments, their forces and effective
fields, and coupled spin-lattice dynamics.

Moments ``m`` [n_atoms, 3] are unit axial vectors (irreps ``1e``) that flip under time
reversal. `SpinLatticePotential` sums a learned `SpinPairCoupling` over the neighbour
pairs within the cutoff,

    E = 1/2 sum_(i != j) [ phi(r_ij) + J'(r_ij) m_i.m_j + K(r_ij) S12(r_ij, m_i, m_j) ]

(pair lattice energy, isotropic exchange, pseudo-dipolar anisotropic exchange), so E is
invariant under a joint rotation of space and moments and, being even in the moments,
under time reversal ``m -> -m``. Forces ``-dE/dr`` and effective fields ``-dE/dm`` (eV
per unit moment) come from autograd (`spin_lattice_derivatives`).
`HeisenbergLatticeReference` is the classical reference: a Morse pair potential plus
Heisenberg exchange ``-J(r) m_i.m_j`` with ``J(r)`` decaying with distance; ``J0 > 0``
orders ferromagnetically, ``J0 < 0`` antiferromagnetically.
`SpinLatticeDynamics` integrates ``dm/dt = -gamma m x B_eff`` together with velocity
Verlet for the atoms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from ase import units
from torch import Tensor, nn

from equipot.data.neighbors import NeighborList

from .spin_pair import SpinPairCoupling

HBAR = units._hbar / units._e / 1e-15  # eV fs
FORCE_TO_ACCELERATION = units._e / 1e-10 / units._amu * 1e-20  # (eV/Å)/amu -> Å/fs^2 (9.649e-3)
VELOCITY_TO_ENERGY = units._amu * 1e10 / units._e  # amu (Å/fs)^2 -> eV

EnergyFunction = Callable[[Tensor, Tensor, "LatticeEdges"], Tensor]


@dataclass
class LatticeEdges:
    """Directed neighbour pairs: ``senders``, ``receivers`` [n_edges] and the periodic
    ``offsets`` [n_edges, 3] (Å): ``r_ij = x[senders] - x[receivers] + offsets``."""

    senders: Tensor
    receivers: Tensor
    offsets: Tensor

    def vectors(self, positions: Tensor) -> Tensor:
        return positions[self.senders] - positions[self.receivers] + self.offsets


def lattice_edges(positions: Tensor, cell: Tensor, pbc: tuple[bool, bool, bool], cutoff: float) -> LatticeEdges:
    """All directed pairs closer than ``cutoff`` (Å) with periodic images (vesin)."""
    receivers, senders, shifts = NeighborList(cutoff)(
        positions.detach().cpu().numpy(), cell.detach().cpu().numpy(), np.asarray(pbc)
    )
    offsets = torch.as_tensor(shifts, dtype=positions.dtype) @ cell.detach()
    return LatticeEdges(torch.as_tensor(senders), torch.as_tensor(receivers), offsets)


def _check_moments(positions: Tensor, moments: Tensor) -> None:
    if moments.shape != positions.shape or positions.ndim != 2 or positions.shape[-1] != 3:
        raise ValueError(
            f"positions and moments must both be [n_atoms, 3]; got {tuple(positions.shape)} and {tuple(moments.shape)}"
        )


class SpinLatticePotential(nn.Module):
    """Learned spin-lattice energy (eV): half the sum over directed pairs of a
    `SpinPairCoupling` of the pair vector (Å) and the two moments.

    ``forward(positions [n, 3], moments [n, 3], edges) -> E`` (scalar, eV).
    """

    def __init__(self, cutoff: float = 4.0, num_basis: int = 8, hidden: int = 16, energy_scale: float = 1.0,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.cutoff = float(cutoff)
        self.pair = SpinPairCoupling(cutoff, num_basis, hidden, energy_scale, dtype=dtype)

    def pair_energies(self, positions: Tensor, moments: Tensor, edges: LatticeEdges) -> Tensor:
        """Half the coupling of each directed pair, [n_edges] (eV); they sum to E."""
        _check_moments(positions, moments)
        return 0.5 * self.pair(edges.vectors(positions), moments[edges.receivers], moments[edges.senders])

    def forward(self, positions: Tensor, moments: Tensor, edges: LatticeEdges) -> Tensor:
        return self.pair_energies(positions, moments, edges).sum()

    def radial_functions(self, distance: Tensor) -> dict[str, Tensor]:
        """``pair`` phi(r), ``exchange`` J(r) (E contains ``-J m_i.m_j`` per pair, so J > 0
        is ferromagnetic) and ``anisotropic`` K(r), eV, at ``distance`` [n] (Å)."""
        parts = self.pair.radial_functions(distance)
        return {"pair": parts["central"], "exchange": -parts["spin_spin"], "anisotropic": parts["tensor"]}


@dataclass(frozen=True)
class HeisenbergLatticeReference:
    """Morse pair potential plus distance-dependent Heisenberg exchange (eV, Å):
    ``E = sum_(i<j) D [(1 - e^(-a (r - r0)))^2 - 1] - J(r) m_i.m_j``, with
    ``J(r) = J0 exp(-(r - r0) / decay) f(r)`` and ``f`` the polynomial cutoff (zero at
    ``cutoff``); the Morse part is shifted to zero at the cutoff by the same ``f``."""

    exchange: float = 0.02  # J0, eV: > 0 ferromagnet, < 0 antiferromagnet
    decay: float = 0.5  # Å
    depth: float = 0.4  # D, eV
    stiffness: float = 1.6  # a, 1/Å
    distance: float = 2.6  # r0, Å
    cutoff: float = 4.0  # Å

    def radial_functions(self, r: Tensor) -> dict[str, Tensor]:
        """``pair`` and ``exchange`` J (eV) at ``r`` [n] (Å)."""
        x = r / self.cutoff
        smooth = torch.where(x < 1, 1 - 28 * x**6 + 48 * x**7 - 21 * x**8, torch.zeros_like(x))
        morse = self.depth * ((1 - torch.exp(-self.stiffness * (r - self.distance))) ** 2 - 1)
        return {"pair": morse * smooth, "exchange": self.exchange * torch.exp(-(r - self.distance) / self.decay) * smooth}

    def __call__(self, positions: Tensor, moments: Tensor, edges: LatticeEdges) -> Tensor:
        _check_moments(positions, moments)
        parts = self.radial_functions(edges.vectors(positions).norm(dim=-1))
        products = (moments[edges.receivers] * moments[edges.senders]).sum(-1)
        return 0.5 * (parts["pair"] - parts["exchange"] * products).sum()


def spin_lattice_derivatives(
    energy_function: EnergyFunction, positions: Tensor, moments: Tensor, edges: LatticeEdges,
    create_graph: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(energy, forces, fields)``: E (eV), ``-dE/dr`` [n, 3] (eV/Å) and the effective
    fields ``B_eff = -dE/dm`` [n, 3] (eV per unit moment), by autograd."""
    positions = positions.detach().requires_grad_()
    moments = moments.detach().requires_grad_()
    energy = energy_function(positions, moments, edges)
    grad_r, grad_m = torch.autograd.grad(energy, (positions, moments), create_graph=create_graph)
    return energy, -grad_r, -grad_m


def rotate_about(vectors: Tensor, axes: Tensor, angles: Tensor) -> Tensor:
    """Rodrigues: ``vectors`` [n, 3] rotated by ``angles`` [n] about unit ``axes`` [n, 3]."""
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]
    along = (axes * vectors).sum(-1, keepdim=True) * axes
    return vectors * cos + torch.cross(axes, vectors, dim=-1) * sin + along * (1 - cos)


class SpinLatticeDynamics:
    """Coupled precession and lattice MD: ``dm/dt = -gamma m x B_eff`` (gamma = 1/hbar,
    B_eff in eV) and Newton's equations for the atoms (masses amu, time fs, velocity Å/fs).

    One step (``dt`` fs): spins precess half a step, velocities get half a kick, atoms
    drift, forces and fields are recomputed, spins precess the second half, velocities get
    the second half kick (a symmetric splitting; total-energy errors fall as dt^2). Each
    precession is a rotation about the field at the midpoint of the substep (Rodrigues), so
    |m| is kept to round-off. The neighbour list is rebuilt every
    step (vesin).
    """

    def __init__(self, energy_function: EnergyFunction, positions: Tensor, moments: Tensor, masses: Tensor,
                 cell: Tensor, pbc: tuple[bool, bool, bool], cutoff: float, dt: float = 1.0,
                 velocities: Tensor | None = None, gamma: float = 1.0 / HBAR):
        _check_moments(positions, moments)
        self.energy_function, self.cell, self.pbc, self.cutoff = energy_function, cell, pbc, float(cutoff)
        self.dt, self.gamma = float(dt), float(gamma)
        self.positions, self.moments = positions.detach().clone(), moments.detach().clone()
        self.masses = masses.to(positions.dtype)
        self.velocities = torch.zeros_like(self.positions) if velocities is None else velocities.detach().clone()
        self._evaluate()

    def _evaluate(self) -> None:
        edges = lattice_edges(self.positions, self.cell, self.pbc, self.cutoff)
        self.edges = edges
        energy, self.forces, self.fields = spin_lattice_derivatives(
            self.energy_function, self.positions, self.moments, edges)
        self.potential_energy = float(energy.detach())

    def _fields(self, moments: Tensor) -> Tensor:
        return spin_lattice_derivatives(self.energy_function, self.positions, moments, self.edges)[2]

    def _precess(self, duration: float) -> None:
        """Rotate each moment about its field for ``duration`` fs; the field is taken at the
        midpoint of the step (predictor-corrector), which makes the step second order."""

        def rotated(fields: Tensor) -> Tensor:
            strength = fields.norm(dim=-1)
            axes = fields / strength.clamp_min(1e-300)[:, None]
            # dm/dt = gamma B x m: a right-handed rotation about B at angular speed gamma |B|
            return rotate_about(self.moments, axes, self.gamma * strength * duration)

        predicted = rotated(self.fields)
        midpoint = self.moments + predicted
        self.moments = rotated(self._fields(midpoint / midpoint.norm(dim=-1, keepdim=True)))
        _, self.forces, self.fields = spin_lattice_derivatives(
            self.energy_function, self.positions, self.moments, self.edges)

    def kinetic_energy(self) -> float:
        """eV."""
        return float(0.5 * (self.masses[:, None] * self.velocities**2).sum() * VELOCITY_TO_ENERGY)

    def total_energy(self) -> float:
        """Potential plus kinetic energy, eV (conserved by the exact dynamics)."""
        return self.potential_energy + self.kinetic_energy()

    def step(self) -> None:
        half = 0.5 * self.dt
        self._precess(half)
        self.velocities = self.velocities + half * FORCE_TO_ACCELERATION * self.forces / self.masses[:, None]
        self.positions = self.positions + self.dt * self.velocities
        self._evaluate()
        self._precess(half)
        self.potential_energy = float(self.energy_function(self.positions, self.moments, self.edges).detach())
        self.velocities = self.velocities + half * FORCE_TO_ACCELERATION * self.forces / self.masses[:, None]

    def run(self, steps: int) -> list[float]:
        """Take ``steps`` steps; returns the total energy (eV) after each."""
        return [self.total_energy() for _ in range(steps) if self.step() is None]


def simple_cubic(repeats: int, lattice_constant: float, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Positions [repeats^3, 3] and cell [3, 3] (Å) of a periodic simple cubic lattice."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(repeats)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return grid.to(dtype) * lattice_constant, torch.eye(3, dtype=dtype) * lattice_constant * repeats


def ordered_moments(positions: Tensor, lattice_constant: float, order: str) -> Tensor:
    """Unit moments along z: all up (``"ferro"``) or alternating on the two simple cubic
    sublattices (``"antiferro"``, G-type)."""
    if order not in ("ferro", "antiferro"):
        raise ValueError(f"order must be 'ferro' or 'antiferro', got {order!r}")
    moments = torch.zeros_like(positions)
    parity = torch.round(positions / lattice_constant).long().sum(-1) % 2
    moments[:, 2] = 1.0 if order == "ferro" else 1.0 - 2.0 * parity.to(positions.dtype)
    return moments


def sample_spin_lattice_frames(
    reference: HeisenbergLatticeReference, n_frames: int, repeats: int = 3, lattice_constant: float = 2.6,
    seed: int = 0, dtype: torch.dtype = torch.float64,
) -> dict[str, Tensor]:
    """Labelled frames of a periodic simple cubic lattice: lattice constant scaled by
    0.97-1.03, atoms displaced by 0.06 Å (Gaussian), moments drawn in turn near the
    ferromagnetic order, near the antiferromagnetic order (noise 0.1-0.8 rad), as a spin
    spiral, or at random. Returns ``positions``, ``moments``, ``forces``, ``fields``
    [n_frames, n_atoms, 3], ``cells`` [n_frames, 3, 3] and ``energy`` [n_frames] (eV, Å)."""
    generator = torch.Generator().manual_seed(seed)
    base, _ = simple_cubic(repeats, lattice_constant, dtype)
    frames: dict[str, list[Tensor]] = {k: [] for k in ("positions", "moments", "cells", "energy", "forces", "fields")}
    for k in range(n_frames):
        scale = 0.97 + 0.06 * float(torch.rand(1, generator=generator))
        positions, cell = simple_cubic(repeats, lattice_constant * scale, dtype)
        positions = positions + 0.06 * torch.randn(positions.shape, generator=generator, dtype=dtype)
        kind = k % 4
        if kind < 2:
            moments = ordered_moments(base, lattice_constant, ("ferro", "antiferro")[kind])
            noise = 0.1 + 0.7 * float(torch.rand(1, generator=generator))
            moments = moments + noise * torch.randn(moments.shape, generator=generator, dtype=dtype)
        elif kind == 2:
            wave = 2 * torch.pi * torch.rand(3, generator=generator, dtype=dtype) / lattice_constant
            phase = base @ wave
            moments = torch.stack([phase.cos(), phase.sin(), 0.3 * torch.ones_like(phase)], -1)
        else:
            moments = torch.randn(base.shape, generator=generator, dtype=dtype)
        moments = moments / moments.norm(dim=-1, keepdim=True)
        edges = lattice_edges(positions, cell, (True, True, True), reference.cutoff)
        energy, forces, fields = spin_lattice_derivatives(reference, positions, moments, edges)
        for name, value in zip(frames, (positions, moments, cell, energy.detach(), forces, fields)):
            frames[name].append(value)
    return {name: torch.stack(values) for name, values in frames.items()}
