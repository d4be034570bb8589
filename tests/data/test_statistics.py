"""`compute_statistics` against known values and direct numpy computation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list as ase_neighbor_list

from equipot.data import DatasetStatistics, GraphDataset, batch_graphs, compute_statistics
from equipot.data.statistics import AtomicEnergiesWarning

CUTOFF = 3.0
E0 = {1: -13.6, 6: -1029.5, 7: -1485.2, 8: -2041.8}  # eV, made up but distinct


def _synthetic(n: int = 40, noise: float = 1e-3, seed: int = 0) -> list[Atoms]:
    """Molecules of H, C, N, O with E = sum_Z n_Z E0_Z + 0.1 eV/atom + noise; random forces."""
    rng = np.random.default_rng(seed)
    names = ["H2O", "CH4", "NH3", "C2H6", "CH3OH", "HCN", "CO2", "N2", "H2", "C2H2", "H2O2", "CH3NO2"]
    structures = []
    for number in range(n):
        atoms = molecule(names[number % len(names)])
        atoms.rattle(0.02, seed=number)
        energy = sum(E0[z] for z in atoms.numbers) + 0.1 * len(atoms) + rng.normal(scale=noise)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=rng.normal(size=(len(atoms), 3)))
        structures.append(atoms)
    return structures


@pytest.fixture(scope="module")
def structures() -> list[Atoms]:
    return _synthetic()


@pytest.fixture(scope="module")
def dataset(structures) -> GraphDataset:
    return GraphDataset(structures, CUTOFF)


def test_least_squares_recovers_atomic_energies(dataset):
    stats = compute_statistics(dataset)
    assert stats.atomic_numbers == [1, 6, 7, 8]
    assert stats.n_structures == len(dataset)
    # the 0.1 eV/atom offset is absorbed into the E0s (it is a per-atom constant)
    for z, e0 in E0.items():
        assert stats.atomic_energies[z] == pytest.approx(e0 + 0.1, abs=5e-3), z
    assert stats.mean_residual_energy_per_atom == pytest.approx(0.0, abs=1e-3)


def test_given_atomic_energies_override_the_fit(dataset):
    given = {1: E0[1] + 0.1, 8: E0[8] + 0.1, 92: -5000.0}  # uranium: not in the data, kept
    stats = compute_statistics(dataset, atomic_energies=given)
    assert {z: stats.atomic_energies[z] for z in given} == given
    assert stats.atomic_energies[6] == pytest.approx(E0[6] + 0.1, abs=5e-3)
    assert stats.atomic_energies[7] == pytest.approx(E0[7] + 0.1, abs=5e-3)
    assert stats.atomic_numbers == [1, 6, 7, 8]
    everything = compute_statistics(dataset, atomic_energies=E0)
    assert everything.atomic_energies == E0
    assert everything.mean_residual_energy_per_atom == pytest.approx(0.1, abs=1e-3)


def _waters(n: int = 5) -> list[Atoms]:
    structures = []
    for number in range(n):
        atoms = molecule("H2O")
        atoms.rattle(0.01, seed=number)
        atoms.calc = SinglePointCalculator(atoms, energy=2 * E0[1] + E0[8] + 0.01 * number)
        structures.append(atoms)
    return structures


def test_one_composition_falls_back_to_the_mean_energy_per_atom_and_says_so():
    """Only water: H and O always come 2:1, so the E0 split is not determined by the data.
    The fallback shares the mean energy per atom equally (not the minimum-norm split, which
    would make E0(H) twice E0(O)), names the elements and records its source."""
    graphs = GraphDataset(_waters(), CUTOFF)
    with pytest.warns(AtomicEnergiesWarning, match=r"cannot separate the reference energies \(E0\) of H, O") as caught:
        stats = compute_statistics(graphs)
    assert "rank 1 for 2 elements" in str(caught[0].message)
    assert "atomic_energies: {H: ..., O: ...}" in str(caught[0].message)
    mean_total = 2 * E0[1] + E0[8] + 0.02
    assert stats.atomic_energies[1] == pytest.approx(mean_total / 3, rel=1e-9)
    assert stats.atomic_energies[8] == pytest.approx(mean_total / 3, rel=1e-9)
    assert stats.mean_residual_energy_per_atom == pytest.approx(0.0, abs=1e-9)
    assert stats.atomic_energies_source == "mean_energy_per_atom"


def test_determined_compositions_are_plain_least_squares_without_a_warning(dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AtomicEnergiesWarning)
        stats = compute_statistics(dataset)
    assert stats.atomic_energies_source == "least_squares"


def test_given_energies_for_every_element_are_the_source():
    stats = compute_statistics(GraphDataset(_waters(), CUTOFF), atomic_energies={1: -13.6, 8: -2041.8})
    assert stats.atomic_energies == {1: -13.6, 8: -2041.8}
    assert stats.atomic_energies_source == "config"


def test_given_energies_that_leave_inseparable_elements_are_refused():
    ethanol = molecule("CH3CH2OH")
    ethanol.calc = SinglePointCalculator(ethanol, energy=-1000.0)
    with pytest.raises(ValueError, match=r"atomic_energies gives H but not C, O, whose reference energies the "
                       r"training energies cannot separate .*add C, O to atomic_energies"):
        compute_statistics(GraphDataset([ethanol], CUTOFF), atomic_energies={1: -13.6})
    # with H and C given, O is alone and determined by the rest of the energy
    stats = compute_statistics(GraphDataset([ethanol], CUTOFF), atomic_energies={1: -13.6, 6: -1029.5})
    assert stats.atomic_energies[8] == pytest.approx(-1000.0 + 6 * 13.6 + 2 * 1029.5)
    assert stats.atomic_energies_source == "config+least_squares"


def test_elements_without_energies_get_zero():
    labelled = molecule("H2O")
    labelled.calc = SinglePointCalculator(labelled, energy=-10.0)
    unlabelled = molecule("CH4")  # no energy: C never appears with one
    graphs = list(GraphDataset([labelled, unlabelled], CUTOFF))
    with pytest.warns(AtomicEnergiesWarning):  # one water: H and O inseparable
        stats = compute_statistics(graphs)
    assert stats.atomic_numbers == [1, 6, 8]
    assert stats.atomic_energies[6] == 0.0
    assert stats.n_structures == 2


def test_force_rms_and_neighbors_match_numpy(structures, dataset):
    stats = compute_statistics(dataset)
    forces = np.concatenate([atoms.get_forces() for atoms in structures])
    assert stats.force_rms == pytest.approx(np.sqrt(np.mean(forces**2)), rel=1e-12)
    n_edges = sum(len(ase_neighbor_list("i", atoms, CUTOFF)) for atoms in structures)
    n_atoms = sum(len(atoms) for atoms in structures)
    assert stats.avg_num_neighbors == pytest.approx(n_edges / n_atoms, rel=1e-12)


def test_periodic_neighbors_and_batches_give_the_same_statistics():
    crystals = [bulk("Cu", "fcc", a=3.6) * (2, 2, 1), bulk("Si", "diamond", a=5.43)]
    for atoms in crystals:
        atoms.calc = SinglePointCalculator(atoms, energy=-float(len(atoms)), forces=np.ones((len(atoms), 3)))
    graphs = list(GraphDataset(crystals, CUTOFF))
    one_by_one = compute_statistics(graphs)
    batched = compute_statistics([batch_graphs(graphs)])
    assert one_by_one == batched
    n_edges = sum(len(ase_neighbor_list("i", atoms, CUTOFF)) for atoms in crystals)
    assert one_by_one.avg_num_neighbors == pytest.approx(n_edges / sum(map(len, crystals)))
    assert one_by_one.force_rms == pytest.approx(1.0)


def test_no_labels_and_no_structures():
    stats = compute_statistics(GraphDataset([molecule("CH4")], CUTOFF))
    assert stats.mean_residual_energy_per_atom is None and stats.force_rms is None
    assert stats.atomic_energies == {1: 0.0, 6: 0.0}
    assert stats.atomic_energies_source == "none"
    with pytest.raises(ValueError, match="no structures"):
        compute_statistics([])


def test_dict_round_trip_is_json_safe(dataset):
    stats = compute_statistics(dataset)
    data = json.loads(json.dumps(stats.to_dict()))
    assert all(isinstance(key, str) for key in data["atomic_energies"])
    assert DatasetStatistics.from_dict(data) == stats
    old_file = {key: value for key, value in data.items() if key != "atomic_energies_source"}
    assert DatasetStatistics.from_dict(old_file).atomic_energies_source == "least_squares"
    with pytest.raises(ValueError, match=r"unknown fields \['extra'\]"):
        DatasetStatistics.from_dict({**data, "extra": 1})
