"""Coarse-grained models: atoms mapped to beads, bead forces matched by an equivariant potential.

A `BeadMapping` puts one bead at the centre of mass of each group of atoms and gives it
the sum of the group's atomic forces (the force on the centre of mass; for non-overlapping
groups, the mapped force whose mean at fixed bead positions is the gradient of the
potential of mean force). An `EquivariantPotential` over beads is trained on these forces
(force matching, `force_matching_loss`): a bead type is given to the model as a
placeholder element (`bead_symbols`: type k is the element of atomic number k + 1, H for
the first type), so the model, the ASE calculator and the MD helpers work unchanged; the
beads' own masses are set on the `Atoms` (`BeadMapping.bead_atoms`). Beads are isotropic
points here, so the bead potential is invariant and its bead forces rotate with the
structure.

`DiatomicFluidCalculator` is the all-atom reference for the example: a liquid of
diatomic molecules (harmonic bonds, Lennard-Jones between atoms of different molecules).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from torch import Tensor

from equipot.data.batching import batch_graphs
from equipot.data.graph import AtomicGraph
from equipot.data.neighbors import NeighborList
from equipot.models.potential import EquivariantPotential


def bead_symbols(n_types: int) -> list[str]:
    """The placeholder element of each bead type: type k is atomic number k + 1."""
    if n_types < 1:
        raise ValueError(f"n_types must be at least 1, got {n_types}")
    return [chemical_symbols[k + 1] for k in range(n_types)]


class BeadMapping:
    """Groups of atoms -> beads at their centres of mass.

    ``groups``: for each bead, the indices of its atoms (each atom in exactly one group);
    ``bead_types``: the type index of each bead (0, 1, ...). Masses (amu) are given to
    `positions` and `bead_masses`; positions in Å, forces in eV/Å.
    """

    def __init__(self, groups: list[list[int]], bead_types: list[int] | None = None):
        members = sorted(i for group in groups for i in group)
        if not groups or any(len(g) == 0 for g in groups) or members != list(range(len(members))):
            raise ValueError("groups must be non-empty and cover the atoms 0 .. n_atoms - 1 exactly once each")
        self.groups = [list(g) for g in groups]
        self.n_atoms, self.n_beads = len(members), len(groups)
        self.bead_types = [0] * self.n_beads if bead_types is None else list(bead_types)
        if len(self.bead_types) != self.n_beads:
            raise ValueError(f"bead_types has {len(self.bead_types)} entries for {self.n_beads} groups")
        self.owner = np.empty(self.n_atoms, dtype=np.int64)
        for bead, group in enumerate(self.groups):
            self.owner[group] = bead

    @classmethod
    def molecules(cls, n_molecules: int, groups_in_molecule: list[list[int]],
                  types_in_molecule: list[int] | None = None) -> BeadMapping:
        """The same grouping repeated over ``n_molecules`` consecutive molecules."""
        size = 1 + max(i for g in groups_in_molecule for i in g)
        types = types_in_molecule or [0] * len(groups_in_molecule)
        groups = [[m * size + i for i in g] for m in range(n_molecules) for g in groups_in_molecule]
        return cls(groups, types * n_molecules)

    def bead_masses(self, masses: np.ndarray) -> np.ndarray:
        """[n_beads] summed masses (amu) of ``masses`` [n_atoms]."""
        return np.bincount(self.owner, weights=masses, minlength=self.n_beads)

    def positions(self, positions: np.ndarray, masses: np.ndarray, cell: np.ndarray | None = None) -> np.ndarray:
        """Centres of mass [n_beads, 3] (Å) of ``positions`` [n_atoms, 3]; with a periodic
        ``cell`` [3, 3] each group is first made whole (minimum image to its first atom)."""
        return self._centres_and_offsets(positions, masses, cell)[0]

    def offsets(self, positions: np.ndarray, masses: np.ndarray, cell: np.ndarray | None = None) -> np.ndarray:
        """[n_atoms, 3] (Å): each atom's position relative to its bead's centre of mass
        (the group made whole as in `positions`)."""
        return self._centres_and_offsets(positions, masses, cell)[1]

    def _centres_and_offsets(self, positions: np.ndarray, masses: np.ndarray,
                             cell: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if positions.shape != (self.n_atoms, 3):
            raise ValueError(f"positions must be [{self.n_atoms}, 3] for this mapping; got {positions.shape}")
        first_atoms = [g[0] for g in self.groups]
        delta = positions - positions[first_atoms][self.owner]
        if cell is not None:
            fractional = delta @ np.linalg.inv(cell)
            delta = (fractional - np.round(fractional)) @ cell
        weighted = np.zeros((self.n_beads, 3))
        np.add.at(weighted, self.owner, masses[:, None] * delta)
        shift = weighted / self.bead_masses(masses)[:, None]  # centre of mass relative to the first atom
        return positions[first_atoms] + shift, delta - shift[self.owner]

    def forces(self, forces: np.ndarray) -> np.ndarray:
        """[n_beads, 3] (eV/Å): the sum of each group's atomic ``forces`` [n_atoms, 3]."""
        if forces.shape != (self.n_atoms, 3):
            raise ValueError(f"forces must be [{self.n_atoms}, 3] for this mapping; got {forces.shape}")
        summed = np.zeros((self.n_beads, 3))
        np.add.at(summed, self.owner, forces)
        return summed

    def bead_atoms(self, atoms: Atoms) -> Atoms:
        """The coarse-grained `Atoms` of an all-atom ``atoms``: beads as placeholder elements
        (`bead_symbols`) with their summed masses, same cell and periodicity (beads wrapped
        into the cell)."""
        cell = np.asarray(atoms.cell) if atoms.pbc.any() else None
        positions = self.positions(atoms.get_positions(), atoms.get_masses(), cell)
        numbers = np.asarray(self.bead_types) + 1
        beads = Atoms(numbers=numbers, positions=positions, cell=atoms.cell, pbc=atoms.pbc)
        beads.set_masses(self.bead_masses(atoms.get_masses()))
        if atoms.pbc.all():
            beads.wrap()
        return beads


def force_matching_loss(model: EquivariantPotential, graph: AtomicGraph, bead_forces: Tensor) -> Tensor:
    """Mean squared error (eV/Å)^2 of the model's forces against the mapped ``bead_forces``
    [n_beads, 3]; differentiable in the model's parameters."""
    predicted = model(graph, outputs={"forces"}, create_graph=True).forces
    return (predicted - bead_forces.to(predicted.dtype)).pow(2).mean()


def fit_force_matching(
    model: EquivariantPotential,
    graphs: Sequence[AtomicGraph],
    bead_forces: Tensor,
    train: np.ndarray,
    steps: int,
    seconds: float,
    batch_size: int,
    rng: np.random.Generator,
    lr: float = 5e-3,
    log_every: int = 100,
    label: str = "",
) -> int:
    """Train ``model`` by `force_matching_loss` on random batches of ``batch_size`` frames
    drawn from the indices ``train`` (``graphs`` one bead graph per frame, ``bead_forces``
    [n_frames, n_beads, 3] eV/Å), with Adam at ``lr`` decayed exponentially to 1 % of it over
    ``steps``; stops after ``steps`` steps or ``seconds`` of wall time, printing the loss every
    ``log_every`` steps. Returns the number of steps taken."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, (1e-2) ** (1 / steps))
    start, step = time.perf_counter(), 0
    model.train()
    while step < steps and time.perf_counter() - start < seconds:
        chosen = rng.choice(train, batch_size, replace=False)
        optimizer.zero_grad()
        loss = force_matching_loss(model, batch_graphs([graphs[k] for k in chosen]), bead_forces[chosen].reshape(-1, 3))
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        if step % log_every == 0:
            print(f"{label}step {step}  force MSE {float(loss.detach()):.4g} (eV/Å)^2  ({time.perf_counter() - start:.0f} s)", flush=True)
    model.eval()
    return step


class DiatomicFluidCalculator(Calculator):
    """All-atom reference: diatomic molecules (atoms 2m, 2m + 1) with harmonic bonds
    ``k/2 (r - r0)^2`` and a Lennard-Jones potential ``4 eps [(s/r)^12 - (s/r)^6]`` between
    atoms of different molecules, shifted and truncated at ``cutoff`` (energy shift only).
    eV, Å."""

    implemented_properties = ("energy", "forces")

    def __init__(self, epsilon: float = 0.01, sigma: float = 3.0, cutoff: float = 7.0, bond_length: float = 1.1,
                 bond_constant: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.sigma, self.cutoff = epsilon, sigma, cutoff
        self.bond_length, self.bond_constant = bond_length, bond_constant
        self.neighbor_list = NeighborList(cutoff)

    def _lj(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inv6 = (self.sigma / r) ** 6
        shift = (self.sigma / self.cutoff) ** 6
        energy = 4 * self.epsilon * (inv6**2 - inv6 - (shift**2 - shift))
        de_dr = 4 * self.epsilon * (-12 * inv6**2 + 6 * inv6) / r
        return energy, de_dr

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        positions = self.atoms.get_positions()
        cell = np.asarray(self.atoms.cell)
        receivers, senders, shifts = self.neighbor_list(positions, cell, np.asarray(self.atoms.pbc))
        keep = (senders // 2) != (receivers // 2)  # intermolecular pairs only
        receivers, senders, shifts = receivers[keep], senders[keep], shifts[keep]
        vectors = positions[senders] - positions[receivers] + shifts @ cell
        r = np.linalg.norm(vectors, axis=1)
        energy_pairs, de_dr = self._lj(r)
        forces = np.zeros_like(positions)
        # each pair appears in both directions: half the energy, and the force on the receiver
        np.add.at(forces, receivers, (de_dr / r)[:, None] * vectors)
        energy = 0.5 * energy_pairs.sum()
        first, second = np.arange(0, len(positions), 2), np.arange(1, len(positions), 2)
        bond = positions[second] - positions[first]
        if cell is not None and self.atoms.pbc.any():
            fractional = bond @ np.linalg.inv(cell)
            bond = (fractional - np.round(fractional)) @ cell
        length = np.linalg.norm(bond, axis=1)
        energy += 0.5 * self.bond_constant * ((length - self.bond_length) ** 2).sum()
        pull = (self.bond_constant * (length - self.bond_length) / length)[:, None] * bond
        forces[first] += pull
        forces[second] -= pull
        self.results = {"energy": float(energy), "forces": forces}


def diatomic_fluid(n_per_side: int, density: float, bond_length: float = 1.1, seed: int = 0) -> Atoms:
    """A cubic periodic box of ``n_per_side**3`` randomly oriented diatomic molecules on a
    lattice at ``density`` molecules/Å^3 (atoms 2m and 2m + 1 form molecule m; species A =
    C, B = O as labels only)."""
    rng = np.random.default_rng(seed)
    n = n_per_side**3
    length = (n / density) ** (1 / 3)
    grid = np.stack(np.meshgrid(*[np.arange(n_per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    centres = (grid + 0.5) * length / n_per_side
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    positions = np.empty((2 * n, 3))
    positions[0::2] = centres - 0.5 * bond_length * axes
    positions[1::2] = centres + 0.5 * bond_length * axes
    return Atoms("CO" * n, positions=positions, cell=np.eye(3) * length, pbc=True)


def molecular_liquid(molecule: Atoms, n_per_side: int, density: float, min_distance: float = 1.7,
                     seed: int = 0, max_tries: int = 1000) -> Atoms:
    """A cubic periodic box of ``n_per_side**3`` copies of ``molecule`` at ``density``
    (g/cm^3), centres of mass on a simple cubic lattice, each copy randomly rotated (redrawn
    until all atoms of different molecules are at least ``min_distance`` Å apart). Atoms of
    molecule m are ``m * len(molecule) ... (m + 1) * len(molecule) - 1``, in ``molecule``'s order."""
    rng = np.random.default_rng(seed)
    n = n_per_side**3
    grams = n * molecule.get_masses().sum() / units.mol  # amu -> g
    length = (grams / density * 1e24) ** (1 / 3)  # cm^3 -> Å^3
    template = molecule.get_positions() - molecule.get_center_of_mass()
    grid = np.stack(np.meshgrid(*[np.arange(n_per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    cell = np.eye(3) * length
    placed: list[np.ndarray] = []
    for centre in (grid + 0.5) * length / n_per_side:
        for _ in range(max_tries):
            candidate = template @ _random_rotation(rng).T + centre
            if all(_closest_periodic(candidate, other, length) >= min_distance for other in placed):
                break
        else:
            raise ValueError(f"could not place {n} molecules {min_distance} Å apart at {density} g/cm^3; "
                             "lower the density or min_distance")
        placed.append(candidate)
    numbers = np.tile(molecule.numbers, n)
    return Atoms(numbers=numbers, positions=np.concatenate(placed), cell=cell, pbc=True)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def _closest_periodic(a: np.ndarray, b: np.ndarray, length: float) -> float:
    delta = a[:, None, :] - b[None, :, :]
    delta -= length * np.round(delta / length)
    return float(np.sqrt((delta**2).sum(-1)).min())
