"""The vesin-based `NeighborList` against ASE's reference `neighbor_list`.

Convention check: ASE's ``neighbor_list("ijSD")`` gives ``D = pos[j] - pos[i] + S @ cell``;
ours is ``receivers = i``, ``senders = j``, ``vector = pos[senders] - pos[receivers] +
cell_shifts @ cell``, so the triples (receiver, sender, shift) must equal ASE's (i, j, S).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from equipot.data import NeighborList, edge_vectors, graph_from_atoms


def _random_cell(rng: np.random.Generator) -> np.ndarray:
    """A random triclinic cell (rows lattice vectors, Å) of lengths 2.5-7 Å, angles 50-130°."""
    lengths = rng.uniform(2.5, 7.0, size=3)
    alpha, beta, gamma = np.radians(rng.uniform(50, 130, size=3))
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([np.cos(gamma), np.sin(gamma), 0.0])
    cx = np.cos(beta)
    cy = (np.cos(alpha) - np.cos(beta) * np.cos(gamma)) / np.sin(gamma)
    c = np.array([cx, cy, np.sqrt(max(1.0 - cx**2 - cy**2, 0.05))])
    return np.array([a, b, c]) * lengths[:, None]


def _random_atoms(rng: np.random.Generator, n_atoms: int, cell: np.ndarray, pbc) -> Atoms:
    """Atoms at random fractional coordinates (some outside [0, 1)), at least 0.5 Å apart."""
    for _ in range(100):
        fractional = rng.uniform(-0.3, 1.3, size=(n_atoms, 3))
        atoms = Atoms(numbers=rng.integers(1, 10, n_atoms), scaled_positions=fractional, cell=cell, pbc=pbc)
        if n_atoms == 1 or ase_neighbor_list("d", atoms, 0.5).size == 0:
            return atoms
    raise RuntimeError("could not place atoms")


def _ours(atoms: Atoms, cutoff: float) -> set[tuple[int, int, tuple[int, ...]]]:
    receivers, senders, shifts = NeighborList(cutoff)(atoms.positions, atoms.cell.array, atoms.pbc)
    triples = set(zip(receivers.tolist(), senders.tolist(), map(tuple, shifts.tolist())))
    assert len(triples) == len(receivers), "duplicated edges"
    return triples


def _ase(atoms: Atoms, cutoff: float) -> set[tuple[int, int, tuple[int, ...]]]:
    i, j, shifts = ase_neighbor_list("ijS", atoms, cutoff)
    return set(zip(i.tolist(), j.tolist(), map(tuple, shifts.tolist())))


def _assert_agree(atoms: Atoms, cutoff: float) -> None:
    ours, reference = _ours(atoms, cutoff), _ase(atoms, cutoff)
    assert ours == reference, (
        f"{len(ours - reference)} extra and {len(reference - ours)} missing edges "
        f"(cell {atoms.cell.array.tolist()}, pbc {atoms.pbc.tolist()})"
    )


def test_random_molecules():
    rng = np.random.default_rng(0)
    for n_atoms in (1, 2, 5, 12):
        atoms = _random_atoms(rng, n_atoms, np.eye(3) * 6.0, pbc=False)
        _assert_agree(atoms, cutoff=3.0)


def test_molecule_with_a_cell_ignores_it():
    atoms = _random_atoms(np.random.default_rng(1), 6, np.eye(3) * 2.0, pbc=False)
    _assert_agree(atoms, cutoff=4.0)


@pytest.mark.parametrize("seed", range(20))
def test_random_triclinic_periodic_cells(seed):
    rng = np.random.default_rng(100 + seed)
    atoms = _random_atoms(rng, int(rng.integers(1, 7)), _random_cell(rng), pbc=True)
    _assert_agree(atoms, cutoff=float(rng.uniform(2.0, 5.0)))


@pytest.mark.parametrize(
    "cell",
    [
        [[3.0, 0.0, 0.0], [2.8, 0.8, 0.0], [0.3, 2.6, 1.0]],  # gamma = 16 degrees, flat
        [[4.0, 0.0, 0.0], [3.8, 1.0, 0.0], [3.5, 0.7, 1.2]],  # all angles below 22 degrees
        [[4.0, 0.0, 0.0], [-3.8, 1.0, 0.0], [3.5, -0.7, 1.2]],  # obtuse, long shifts needed
        [[10.0, 0.0, 0.0], [9.5, 0.8, 0.0], [0.0, 0.0, 3.0]],  # long, thin, skewed
    ],
)
def test_very_skewed_cells(cell):
    # (ASE's reference list gets slow, seconds, for flatter cells than these)
    rng = np.random.default_rng(7)
    atoms = Atoms("CH", scaled_positions=rng.uniform(0, 1, (2, 3)), cell=cell, pbc=True)
    _assert_agree(atoms, cutoff=3.0)


@pytest.mark.parametrize("n_atoms", [1, 2])
def test_cell_smaller_than_cutoff_has_self_images(n_atoms):
    cell = [[2.0, 0.0, 0.0], [0.4, 2.1, 0.0], [0.3, -0.2, 1.9]]
    positions = [[0.1, 0.2, 0.3], [1.0, 1.1, 0.9]][:n_atoms]
    atoms = Atoms(numbers=[6] * n_atoms, positions=positions, cell=cell, pbc=True)
    _assert_agree(atoms, cutoff=5.0)
    ours = _ours(atoms, cutoff=5.0)
    self_images = [t for t in ours if t[0] == t[1]]
    assert len(self_images) > 20  # many images of the same atom...
    assert all(shift != (0, 0, 0) for _, _, shift in self_images)  # ...but never itself


@pytest.mark.parametrize("vacuum_vector", [[0.0, 0.0, 0.0], [0.0, 0.0, 12.0], [0.5, 0.3, 12.0]])
def test_slab_with_mixed_pbc(vacuum_vector):
    rng = np.random.default_rng(3)
    cell = np.array([[3.0, 0.0, 0.0], [1.2, 2.8, 0.0], vacuum_vector])
    positions = rng.uniform(0, 1, (5, 3)) @ np.array([[3.0, 0, 0], [1.2, 2.8, 0], [0, 0, 6.0]])
    atoms = Atoms(numbers=[14] * 5, positions=positions, cell=cell, pbc=[True, True, False])
    _assert_agree(atoms, cutoff=4.5)
    shifts = np.array([shift for _, _, shift in _ours(atoms, 4.5)])
    assert np.all(shifts[:, 2] == 0), "no image along the non-periodic direction"


def test_edge_vectors_equal_ase_distance_vectors():
    rng = np.random.default_rng(11)
    atoms = _random_atoms(rng, 4, _random_cell(rng), pbc=True)
    cutoff = 4.0
    graph = graph_from_atoms(atoms, cutoff)
    vectors = edge_vectors(graph).numpy()
    ours = {
        (r, s, tuple(shift)): vector
        for r, s, shift, vector in zip(
            graph.receivers.tolist(), graph.senders.tolist(), graph.cell_shifts.long().tolist(), vectors
        )
    }
    i, j, shifts, reference = ase_neighbor_list("ijSD", atoms, cutoff)
    assert len(ours) == len(i)
    for a, b, shift, vector in zip(i.tolist(), j.tolist(), shifts.tolist(), reference):
        np.testing.assert_allclose(ours[(a, b, tuple(shift))], vector, atol=1e-12)
    assert np.all(np.linalg.norm(vectors, axis=1) < cutoff)


def test_edge_vectors_follow_the_strain():
    """Positions and cell deformed together keep the same edges, with deformed vectors."""
    atoms = _random_atoms(np.random.default_rng(5), 3, _random_cell(np.random.default_rng(6)), pbc=True)
    graph = graph_from_atoms(atoms, 3.5)
    deformation = torch.eye(3, dtype=torch.float64) + 0.01 * torch.tensor(
        [[1.0, 0.2, 0.0], [0.2, -0.5, 0.1], [0.0, 0.1, 0.3]], dtype=torch.float64
    )
    strained = edge_vectors(graph, graph.positions @ deformation, graph.cell @ deformation)
    torch.testing.assert_close(strained, edge_vectors(graph) @ deformation)
