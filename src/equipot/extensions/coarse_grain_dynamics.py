"""Translational and rotational Langevin dynamics of oriented beads, and the pair
correlations that compare a CG run with a mapped all-atom one.

`OrientedBeadLangevin` moves bead positions ``R`` (mass ``M``, amu) and unit orientations
``u`` (each a linear rotor: angular velocity ``omega`` perpendicular to ``u``, moment of
inertia ``I`` about axes perpendicular to ``u``, amu Å^2, e.g. from
`OrientedBeadMapping.moments_of_inertia`) under forces ``-dE/dR`` and torques
``-u x dE/du`` (`oriented_bead_derivatives`), with a BAOAB splitting for both:

    B  v += dt/2 F/M            omega += dt/2 tau/I   (tau is perpendicular to u)
    A  R += dt/2 v              u rotated about omega by |omega| dt/2 (Rodrigues; exact free rotor)
    O  v  = c v + sqrt((1 - c^2) kT/M) xi     omega = c omega + sqrt((1 - c^2) kT/I) xi_perp
    A  (again), new forces and torques, B (again)

with ``c = exp(-friction dt)`` and ``xi`` standard normal (``xi_perp``: its part
perpendicular to ``u``, two degrees of freedom). ``|u| = 1`` and ``omega . u = 0`` hold to
round-off; with ``friction = 0`` it is velocity Verlet for a linear rotor. Units: Å, fs,
amu, eV, K. The neighbour list is rebuilt every step (vesin); positions are wrapped into
the cell.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import units
from torch import Tensor, nn

from equipot.data.neighbors import NeighborList

from .coarse_grain_oriented import oriented_bead_derivatives, perpendicular
from .spin_lattice import FORCE_TO_ACCELERATION, VELOCITY_TO_ENERGY, rotate_about, lattice_edges


class OrientedBeadLangevin:
    """Langevin dynamics of oriented beads in a periodic ``cell`` [3, 3] (Å).

    ``potential(positions, orientations, edges) -> E`` (eV), e.g. `OrientedBeadPotential`;
    ``masses`` and ``inertia`` [n_beads] (amu, amu Å^2); ``dt`` fs; ``friction`` 1/fs, the
    same for translation and rotation; ``temperature`` K. Velocities start from the
    Maxwell-Boltzmann distribution (``seed``).
    """

    def __init__(self, potential: nn.Module, positions: Tensor, orientations: Tensor, masses: Tensor,
                 inertia: Tensor, cell: Tensor, cutoff: float, temperature: float, dt: float = 2.0,
                 friction: float = 0.01, seed: int = 0):
        n = positions.shape[0]
        if positions.shape != (n, 3) or orientations.shape != (n, 3) or masses.shape != (n,) or inertia.shape != (n,):
            raise ValueError(f"positions and orientations must be [n_beads, 3] and masses and inertia [n_beads]; got "
                             f"{tuple(positions.shape)}, {tuple(orientations.shape)}, {tuple(masses.shape)}, "
                             f"{tuple(inertia.shape)}")
        if bool((masses <= 0).any()) or bool((inertia <= 0).any()):
            raise ValueError("masses and inertia must be positive (amu, amu Å^2)")
        dtype = positions.dtype
        self.potential, self.cell, self.cutoff = potential, cell.to(dtype), float(cutoff)
        self.dt, self.friction, self.kT = float(dt), float(friction), units.kB * float(temperature)
        self.generator = torch.Generator().manual_seed(seed)
        self.positions = positions.detach().clone()
        self.orientations = orientations.detach() / orientations.detach().norm(dim=-1, keepdim=True)
        self.masses, self.inertia = masses.to(dtype), inertia.to(dtype)
        self.velocities = self._thermal(self.masses[:, None].expand(n, 3))
        self.angular_velocities = perpendicular(self._thermal(self.inertia[:, None].expand(n, 3)), self.orientations)
        self._evaluate()

    def _thermal(self, inertia: Tensor) -> Tensor:
        """Normal draws with variance kT / inertia in (Å/fs)^2 or (rad/fs)^2."""
        noise = torch.randn(inertia.shape, generator=self.generator, dtype=inertia.dtype)
        return noise * torch.sqrt(self.kT / VELOCITY_TO_ENERGY / inertia)

    def _evaluate(self) -> None:
        fractional = self.positions @ torch.linalg.inv(self.cell)
        self.positions = (fractional - torch.floor(fractional)) @ self.cell
        edges = lattice_edges(self.positions, self.cell, (True, True, True), self.cutoff)
        energy, self.forces, self.torques = oriented_bead_derivatives(
            self.potential, self.positions, self.orientations, edges)
        self.potential_energy = float(energy.detach())

    def _kick(self, duration: float) -> None:
        self.velocities = self.velocities + duration * FORCE_TO_ACCELERATION * self.forces / self.masses[:, None]
        self.angular_velocities = self.angular_velocities + (
            duration * FORCE_TO_ACCELERATION * self.torques / self.inertia[:, None])
        self.angular_velocities = perpendicular(self.angular_velocities, self.orientations)

    def _drift(self, duration: float) -> None:
        self.positions = self.positions + duration * self.velocities
        speed = self.angular_velocities.norm(dim=-1)
        axes = self.angular_velocities / speed.clamp_min(1e-300)[:, None]
        self.orientations = rotate_about(self.orientations, axes, speed * duration)
        self.orientations = self.orientations / self.orientations.norm(dim=-1, keepdim=True)

    def _thermostat(self) -> None:
        if self.friction == 0:
            return
        c = float(np.exp(-self.friction * self.dt))
        self.velocities = c * self.velocities + np.sqrt(1 - c**2) * self._thermal(self.masses[:, None].expand_as(self.velocities))
        noise = self._thermal(self.inertia[:, None].expand_as(self.angular_velocities))
        self.angular_velocities = c * self.angular_velocities + np.sqrt(1 - c**2) * perpendicular(noise, self.orientations)

    def step(self) -> None:
        half = 0.5 * self.dt
        self._kick(half)
        self._drift(half)
        self._thermostat()
        self._drift(half)
        self._evaluate()
        self._kick(half)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def kinetic_energies(self) -> tuple[float, float]:
        """Translational and rotational kinetic energy (eV)."""
        translational = 0.5 * (self.masses[:, None] * self.velocities**2).sum() * VELOCITY_TO_ENERGY
        rotational = 0.5 * (self.inertia[:, None] * self.angular_velocities**2).sum() * VELOCITY_TO_ENERGY
        return float(translational), float(rotational)

    def temperatures(self) -> tuple[float, float]:
        """Instantaneous translational (3 degrees of freedom per bead) and rotational (2 per
        bead) temperatures, K."""
        n = self.positions.shape[0]
        translational, rotational = self.kinetic_energies()
        return 2 * translational / (3 * n * units.kB), 2 * rotational / (2 * n * units.kB)

    def total_energy(self) -> float:
        """Potential plus kinetic energy (eV), conserved when ``friction = 0``."""
        return self.potential_energy + sum(self.kinetic_energies())


def pair_correlations(positions: np.ndarray, orientations: np.ndarray, cell: np.ndarray, rmax: float,
                      bins: int = 40) -> dict[str, np.ndarray]:
    """Bead-bead pair correlations averaged over frames, all periodic images within ``rmax``
    (Å; it may exceed half the box).

    ``positions``, ``orientations`` [n_frames, n_beads, 3]; returns ``r`` [bins] (bin
    centres, Å), ``g`` (radial distribution function), ``p1`` = <u_i . u_j> and ``p2`` =
    <P2(u_i . u_j)> = <(3 (u_i . u_j)^2 - 1) / 2> in each distance bin (NaN where a bin is
    empty).
    """
    edges = np.linspace(0.0, rmax, bins + 1)
    counts, p1, p2 = np.zeros(bins), np.zeros(bins), np.zeros(bins)
    neighbor_list = NeighborList(rmax)
    n_frames, n_beads = positions.shape[:2]
    for frame, directions in zip(positions, orientations):
        receivers, senders, shifts = neighbor_list(frame, cell, np.array([True, True, True]))
        distance = np.linalg.norm(frame[senders] - frame[receivers] + shifts @ cell, axis=1)
        cosine = (directions[senders] * directions[receivers]).sum(-1)
        index = np.clip(np.searchsorted(edges, distance, side="right") - 1, 0, bins - 1)
        keep = distance < rmax
        counts += np.bincount(index[keep], minlength=bins)
        p1 += np.bincount(index[keep], weights=cosine[keep], minlength=bins)
        p2 += np.bincount(index[keep], weights=1.5 * cosine[keep] ** 2 - 0.5, minlength=bins)
    density = n_beads / abs(np.linalg.det(cell))
    shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    with np.errstate(invalid="ignore"):
        return {"r": 0.5 * (edges[1:] + edges[:-1]), "g": counts / (n_frames * n_beads * density * shells),
                "p1": p1 / counts, "p2": p2 / counts}
