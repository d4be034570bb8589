"""Reading extxyz files and ASE databases with custom label keys, into datasets."""

from __future__ import annotations

import gzip
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from equipot.data import GraphDataset, LabelKeys, read_structures

CUTOFF = 3.0
KEYS = LabelKeys(
    energy="REF_energy",
    forces="REF_forces",
    stress=None,
    graph_extra={"dipole": "dipole", "gap": "REF_gap"},
    atom_extra={"charges": "REF_charges"},
)


def _structures(n: int = 4) -> list[Atoms]:
    """Molecules and a crystal with custom labels in info/arrays (eV, eV/Å, e·Å, e)."""
    rng = np.random.default_rng(0)
    bases = [molecule("H2O"), molecule("CH4"), bulk("Si", "diamond", a=5.43), molecule("NH3")]
    structures = []
    for number in range(n):
        atoms = bases[number % len(bases)].copy()
        atoms.rattle(0.01, seed=number)
        atoms.info["REF_energy"] = float(rng.normal())
        atoms.info["REF_gap"] = float(rng.uniform(1, 5))
        atoms.info["dipole"] = rng.normal(size=3)
        atoms.info["config"] = "crystal" if atoms.pbc.any() else "molecule"
        atoms.arrays["REF_forces"] = rng.normal(size=(len(atoms), 3))
        atoms.arrays["REF_charges"] = rng.normal(size=len(atoms))
        structures.append(atoms)
    return structures


def _write_db(path: Path, structures: list[Atoms]) -> None:
    database = ase.db.connect(str(path))
    for atoms in structures:
        database.write(
            Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc),
            key_value_pairs={key: atoms.info[key] for key in ("REF_energy", "REF_gap", "config")},
            data={
                "dipole": atoms.info["dipole"],
                "REF_forces": atoms.arrays["REF_forces"],
                "REF_charges": atoms.arrays["REF_charges"],
            },
        )


def _assert_labels_match(graph, atoms: Atoms, dtype=torch.float64) -> None:
    torch.testing.assert_close(graph.positions, torch.as_tensor(atoms.positions, dtype=dtype))
    assert graph.atomic_numbers.tolist() == atoms.numbers.tolist()
    expected = {
        "energy": [atoms.info["REF_energy"]],
        "gap": [atoms.info["REF_gap"]],
        "dipole": [atoms.info["dipole"]],
    }
    assert set(graph.graph_targets) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(graph.graph_targets[name], torch.as_tensor(np.array(value), dtype=dtype))
    assert set(graph.atom_targets) == {"forces", "charges"}
    torch.testing.assert_close(graph.atom_targets["forces"], torch.as_tensor(atoms.arrays["REF_forces"], dtype=dtype))
    torch.testing.assert_close(graph.atom_targets["charges"], torch.as_tensor(atoms.arrays["REF_charges"], dtype=dtype))


@pytest.mark.parametrize("name", ["data.xyz", "data.extxyz", "data.xyz.gz", "data.db"])
def test_round_trip_with_custom_keys(tmp_path, name):
    structures = _structures()
    path = tmp_path / name
    if name.endswith(".db"):
        _write_db(path, structures)
    elif name.endswith(".gz"):
        ase.io.write(tmp_path / "plain.xyz", structures, format="extxyz")
        path.write_bytes(gzip.compress((tmp_path / "plain.xyz").read_bytes()))
    else:
        ase.io.write(path, structures, format="extxyz")

    read = read_structures(path, keys=KEYS, require=("energy", "forces", "dipole", "charges"))
    assert len(read) == len(structures)
    dataset = GraphDataset.from_file(path, CUTOFF, keys=KEYS, require=("energy", "forces"))
    assert len(dataset) == len(structures)
    assert dataset.names[2] == f"structure 2 of {name}"
    for graph, atoms in zip(dataset, structures):
        _assert_labels_match(graph, atoms)
        np.testing.assert_array_equal(graph.pbc[0].numpy(), atoms.pbc)
        np.testing.assert_allclose(graph.cell[0].numpy(), atoms.cell.array)


def test_standard_keys_go_through_the_calculator(tmp_path):
    """ASE's extxyz reader moves energy/forces/stress into a SinglePointCalculator."""
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.02, seed=1)
    atoms.calc = EMT()
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    ase.io.write(tmp_path / "cu.xyz", [atoms], format="extxyz")
    (graph,) = GraphDataset.from_file(tmp_path / "cu.xyz", CUTOFF, require=("energy", "forces", "stress"))
    torch.testing.assert_close(graph.graph_targets["energy"], torch.tensor([energy], dtype=torch.float64))
    torch.testing.assert_close(graph.atom_targets["forces"], torch.as_tensor(forces))
    full_stress = torch.as_tensor(stress[[0, 5, 4, 5, 1, 3, 4, 3, 2]].reshape(1, 3, 3))
    torch.testing.assert_close(graph.graph_targets["stress"], full_stress)


def test_db_select_and_index(tmp_path):
    structures = _structures(6)
    _write_db(tmp_path / "data.db", structures)
    crystals = read_structures(tmp_path / "data.db", select="config=crystal", keys=KEYS)
    expected = [atoms for atoms in structures if atoms.pbc.any()]
    assert len(crystals) == len(expected) == 1
    np.testing.assert_allclose(crystals[0].positions, expected[0].positions)
    molecules = read_structures(tmp_path / "data.db", select="config=molecule,natoms<5")
    assert [len(atoms) for atoms in molecules] == [3, 4, 3][: len(molecules)]
    assert all(not atoms.pbc.any() for atoms in molecules)
    last = read_structures(tmp_path / "data.db", index=-1)
    np.testing.assert_allclose(last[0].positions, structures[-1].positions)
    middle = read_structures(tmp_path / "data.db", index="1:3")
    assert [len(atoms) for atoms in middle] == [len(structures[1]), len(structures[2])]


def test_extxyz_index(tmp_path):
    structures = _structures(5)
    path = tmp_path / "run@300K.xyz"  # an @ in the name is not an index
    ase.io.write(path, structures, format="extxyz")
    assert len(read_structures(path)) == 5
    assert len(read_structures(path, index="::2")) == 3
    (last,) = read_structures(path, index=-1)
    np.testing.assert_allclose(last.positions, structures[-1].positions, atol=1e-7)


def test_dataset_split_is_deterministic_and_disjoint():
    dataset = GraphDataset(_structures(10), CUTOFF, keys=KEYS, source="mem.xyz")
    train, valid = dataset.split(valid_fraction=0.2, seed=3)
    again_train, again_valid = dataset.split(valid_fraction=0.2, seed=3)
    assert (len(train), len(valid)) == (8, 2)
    assert train.names == again_train.names and valid.names == again_valid.names
    assert set(train.names).isdisjoint(valid.names)
    assert set(train.names) | set(valid.names) == set(dataset.names)
    assert dataset.split(n_valid=3, seed=4)[1].names != valid.names
    assert all(graph is dataset[dataset.names.index(name)] for graph, name in zip(valid, valid.names))
    with pytest.raises(ValueError, match="exactly one"):
        dataset.split(valid_fraction=0.1, n_valid=1)
    with pytest.raises(ValueError, match="leaves a part empty"):
        dataset.split(n_valid=10)


def test_dataset_batches_with_its_collate():
    dataset = GraphDataset(_structures(4), CUTOFF, keys=KEYS, dtype=torch.float32)
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=GraphDataset.collate)
    batches = list(loader)
    assert [b.n_graphs for b in batches] == [3, 1]
    assert batches[0].dtype == torch.float32
    assert batches[0].graph_targets["dipole"].shape == (3, 3)
    assert batches[0].atom_targets["charges"].shape == (batches[0].n_atoms,)


def test_large_dataset_builds_under_a_progress_bar():
    """More than 200 structures go through the (transient, TTY-only) progress bar."""
    structures = [molecule("H2")] * 201
    dataset = GraphDataset(structures, CUTOFF)
    assert len(dataset) == 201 and dataset.names[-1] == "structure 200"
