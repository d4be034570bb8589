"""Rigid docking: the pose (rotation + translation) of a rigid guest molecule against a
fixed host that minimises the energy of the complex, on any energy source.

The pose lives on SE(3): the guest's atoms sit at ``R (g - c) + t`` with ``g`` its
reference positions, ``c`` their centroid, ``R`` a rotation matrix and ``t`` the centroid's
position (Å). Rotations are updated through the exponential map of so(3),
``R = exp([w]x) R0``, with ``R0`` re-based to the current rotation whenever ``|w|``
passes 2 rad: no Euler angles, no gimbal lock, and the map stays far from its singularity
at ``|w| = 2 pi``. The gradient comes from the forces on the guest: ``dE/dt = -sum F_i``
and, for a rotation about the guest's centroid, ``dE/dw = -J(w)^T sum (r_i - t) x F_i``
(``J`` the left Jacobian of SO(3)). Each start is minimised with L-BFGS (scipy) in these six
coordinates.

Energies are those of the whole complex (eV); the interaction energy subtracts the host's
and the guest's own energies (the guest's does not change: it is rigid).

`pose_scan` is the brute-force reference: a grid of rotations times a grid of centroid
positions on spherical shells around the host, no optimisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from ._source import EnergySource, as_calculator, check_atoms

__all__ = ["DockingResult", "ScanResult", "dock", "fibonacci_directions", "pose_scan", "posed_complex"]


def _skew(vector: np.ndarray) -> np.ndarray:
    x, y, z = vector
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def _left_jacobian(omega: np.ndarray) -> np.ndarray:
    """J with exp([w + dw]x) = exp([J dw]x) exp([w]x) to first order."""
    theta = float(np.linalg.norm(omega))
    skew = _skew(omega)
    if theta < 1e-8:
        return np.eye(3) + 0.5 * skew
    return (np.eye(3) + (1 - np.cos(theta)) / theta**2 * skew
            + (theta - np.sin(theta)) / theta**3 * skew @ skew)


def posed_complex(host: Atoms, guest: Atoms, rotation: np.ndarray, translation: np.ndarray) -> Atoms:
    """Host followed by the guest rotated by ``rotation`` [3, 3] about its centroid and
    moved so that its centroid is at ``translation`` [3] (Å). Cell and pbc of the host."""
    reference = guest.positions - guest.positions.mean(axis=0)
    placed = guest.copy()
    placed.positions = reference @ np.asarray(rotation).T + np.asarray(translation)
    combined = host.copy() + placed
    combined.cell, combined.pbc = host.cell, host.pbc
    return combined


#: a host and a guest atom closer than this fraction of the sum of their covalent radii
#: have collapsed onto each other: no physical pose, and a learned energy is meaningless there
CLASH_FRACTION = 0.5


class _Clash(Exception):
    """A pose puts a guest atom inside a host atom (see `CLASH_FRACTION`)."""


class _PoseEnergy:
    """Energy and pose gradient of the complex, counting calculator calls. Raises `_Clash`
    for a pose with collapsed host-guest contacts, before calling the calculator."""

    def __init__(self, source: EnergySource, host: Atoms, guest: Atoms) -> None:
        self.calculator = as_calculator(source)
        self.host, self.guest, self.n_host = host, guest, len(host)
        self.contact = CLASH_FRACTION * (covalent_radii[host.numbers][:, None] + covalent_radii[guest.numbers][None, :])
        self.calls = 0

    def __call__(self, rotation: np.ndarray, translation: np.ndarray, gradient: bool = True):
        atoms = posed_complex(self.host, self.guest, rotation, translation)
        separations = np.linalg.norm(atoms.positions[:self.n_host, None] - atoms.positions[None, self.n_host:], axis=-1)
        if (separations < self.contact).any():
            raise _Clash()
        atoms.calc = self.calculator
        self.calls += 1
        energy = float(atoms.get_potential_energy())
        if not gradient:
            return energy, None, None
        forces = atoms.get_forces()[self.n_host:]
        arms = atoms.positions[self.n_host:] - translation
        return energy, -forces.sum(axis=0), -np.cross(arms, forces).sum(axis=0)


@dataclass
class DockingResult:
    """The best pose of all starts.

    - ``atoms``: the docked complex (host then guest); ``energy`` its energy (eV)
    - ``interaction_energy``: ``energy - E(host) - E(guest)`` (eV)
    - ``rotation`` [3, 3], ``translation`` [3] (Å): the guest's pose (see `posed_complex`)
    - ``start_energies`` [n_starts]: the energy each start ended at (eV; ``inf`` for a start
      that pulled the guest into the host, see `CLASH_FRACTION`); ``start_steps`` the L-BFGS
      iterations each took; ``n_energy_calls``: calculator calls in all
    """

    atoms: Atoms
    energy: float
    interaction_energy: float
    rotation: np.ndarray
    translation: np.ndarray
    start_energies: np.ndarray
    start_steps: list[int] = field(default_factory=list)
    n_energy_calls: int = 0


def _isolated_energy(calculator, atoms: Atoms) -> float:
    alone = atoms.copy()
    alone.calc = calculator
    return float(alone.get_potential_energy())


def _check_pair(host: Atoms, guest: Atoms) -> None:
    check_atoms(host, "host")
    check_atoms(guest, "guest")
    if host.pbc.any():
        raise ValueError("host must be a molecule or cluster (pbc all False); periodic hosts are not supported")


def _minimise(energy: _PoseEnergy, rotation: np.ndarray, translation: np.ndarray, gtol: float,
              max_steps: int) -> tuple[float, np.ndarray, np.ndarray, int]:
    """One start's L-BFGS; energy ``inf`` when it ran into a clash (an energy without
    short-range repulsion there: an untrained or extrapolating model)."""
    try:
        return _lbfgs_on_se3(energy, rotation, translation, gtol, max_steps)
    except _Clash:
        return float("inf"), rotation, translation, 0


def _lbfgs_on_se3(energy: _PoseEnergy, rotation: np.ndarray, translation: np.ndarray, gtol: float,
                  max_steps: int) -> tuple[float, np.ndarray, np.ndarray, int]:
    steps = 0
    for _ in range(10):  # re-base the exponential map when the rotation grows
        base = rotation.copy()

        def function(x: np.ndarray) -> tuple[float, np.ndarray]:
            turn = Rotation.from_rotvec(x[:3]).as_matrix() @ base
            value, force_grad, torque_grad = energy(turn, x[3:])
            return value, np.concatenate([_left_jacobian(x[:3]).T @ torque_grad, force_grad])

        start = np.concatenate([np.zeros(3), translation])
        result = minimize(function, start, jac=True, method="L-BFGS-B",
                          options={"gtol": gtol, "maxiter": max(1, max_steps - steps)})
        steps += int(result.nit)
        rotation = Rotation.from_rotvec(result.x[:3]).as_matrix() @ base
        translation = result.x[3:]
        if np.linalg.norm(result.x[:3]) < 2.0 or steps >= max_steps:
            return float(result.fun), rotation, translation, steps
    return float(result.fun), rotation, translation, steps


def dock(
    source: EnergySource,
    host: Atoms,
    guest: Atoms,
    n_starts: int = 8,
    distance: float | None = None,
    seed: int = 0,
    gtol: float = 1e-4,
    max_steps: int = 300,
) -> DockingResult:
    """Dock the rigid ``guest`` onto the fixed ``host`` from ``n_starts`` random poses.

    Args:
        source: an equipot `Potential` or any ASE calculator (energies and forces).
        host, guest: molecules or clusters (non-periodic); the guest's geometry is kept.
        n_starts: random starting poses (uniform rotations; centroid on a sphere of
            radius ``distance`` around the host's centroid, uniform directions).
        distance: start distance (Å); default: host radius + guest radius + 1.5 Å.
        gtol: L-BFGS tolerance on the pose gradient (eV/Å and eV/rad).
        max_steps: L-BFGS iterations per start.

    Returns:
        `DockingResult` of the lowest-energy start.
    """
    _check_pair(host, guest)
    if n_starts < 1:
        raise ValueError(f"n_starts must be at least 1, got {n_starts}")
    energy = _PoseEnergy(source, host, guest)
    centre = host.positions.mean(axis=0)
    if distance is None:
        distance = _radius(host) + _radius(guest) + 1.5
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(n_starts, random_state=rng.integers(2**32)).as_matrix().reshape(n_starts, 3, 3)
    directions = rng.normal(size=(n_starts, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    ends = [_minimise(energy, rotations[i], centre + distance * directions[i], gtol, max_steps)
            for i in range(n_starts)]
    best = min(range(n_starts), key=lambda i: ends[i][0])
    value, rotation, translation, _ = ends[best]
    if not np.isfinite(value):
        raise ValueError(
            f"every one of the {n_starts} starts pulled the guest into the host (a host and a guest atom closer "
            f"than {CLASH_FRACTION:g} x the sum of their covalent radii): the energy has no short-range repulsion "
            "there. Check the model on close contacts (an untrained or extrapolating model does this), or start "
            "farther out (distance)"
        )
    reference = _isolated_energy(energy.calculator, host) + _isolated_energy(energy.calculator, guest)
    return DockingResult(
        atoms=posed_complex(host, guest, rotation, translation), energy=value, interaction_energy=value - reference,
        rotation=rotation, translation=translation, start_energies=np.array([end[0] for end in ends]),
        start_steps=[end[3] for end in ends], n_energy_calls=energy.calls,
    )


def _radius(atoms: Atoms) -> float:
    return float(np.linalg.norm(atoms.positions - atoms.positions.mean(axis=0), axis=1).max())


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors [n, 3] (the Fibonacci sphere)."""
    index = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * index / n)
    azimuth = np.pi * (1 + 5**0.5) * index
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)


@dataclass
class ScanResult:
    """The lowest pose of a brute-force scan: ``energy`` (eV), ``rotation`` [3, 3],
    ``translation`` [3] (Å), ``atoms`` (the complex); ``n_poses`` evaluated."""

    energy: float
    rotation: np.ndarray
    translation: np.ndarray
    atoms: Atoms
    n_poses: int


def pose_scan(
    source: EnergySource,
    host: Atoms,
    guest: Atoms,
    n_rotations: int = 200,
    n_directions: int = 50,
    distances: Sequence[float] = (2.5, 3.0, 3.5),
    seed: int = 0,
) -> ScanResult:
    """Evaluate every pose of ``n_rotations`` random uniform rotations x ``n_directions``
    Fibonacci directions x ``distances`` (Å, of the guest's centroid from the host's);
    return the lowest. Poses with clashing atoms (`CLASH_FRACTION`) are skipped. No
    optimisation: the reference `dock` must reach or beat."""
    _check_pair(host, guest)
    energy = _PoseEnergy(source, host, guest)
    rotations = Rotation.random(n_rotations, random_state=seed).as_matrix().reshape(n_rotations, 3, 3)
    centre = host.positions.mean(axis=0)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for direction in fibonacci_directions(n_directions):
        for radius in distances:
            translation = centre + radius * direction
            for rotation in rotations:
                try:
                    value = energy(rotation, translation, gradient=False)[0]
                except _Clash:
                    continue
                if best is None or value < best[0]:
                    best = (value, rotation, translation)
    if best is None:
        raise ValueError(f"every scanned pose clashes (atoms closer than {CLASH_FRACTION:g} x the sum of their "
                         "covalent radii); give larger distances")
    return ScanResult(energy=best[0], rotation=best[1], translation=best[2],
                      atoms=posed_complex(host, guest, best[1], best[2]), n_poses=energy.calls)
