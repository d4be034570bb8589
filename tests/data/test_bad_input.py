"""Each failure mode of the data boundary raises its documented error, naming the
structure or file and the remedy."""

from __future__ import annotations

import gzip
import os
import re

import ase.db
import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from equipot.data import (
    DataFileError,
    DataFileNotFoundError,
    GraphDataset,
    LabelKeys,
    MissingLabelError,
    MissingLabelInFileError,
    NonFiniteLabelError,
    StructureError,
    check_cell_volume,
    read_structure,
    read_structures,
)

CUTOFF = 3.0


def _molecules(n: int = 3) -> list[Atoms]:
    structures = []
    for number in range(n):
        atoms = molecule("H2O")
        atoms.rattle(0.01, seed=number)
        atoms.info["energy"] = -10.0 - number
        structures.append(atoms)
    return structures


# ------------------------------------------------------------------ unphysical structures
def test_atoms_closer_than_0_1_angstrom():
    structures = _molecules()
    structures[1].positions[2] = structures[1].positions[1] + [0.05, 0.0, 0.0]
    with pytest.raises(
        StructureError,
        match=r"^structure 1 of train\.xyz: atoms [12] and [12] are 0\.0500 Å apart .*check the units",
    ):
        GraphDataset(structures, CUTOFF, source="train.xyz")


def test_duplicated_atom_in_a_file_is_named(tmp_path):
    structures = _molecules()
    atoms = structures[2]
    structures[2] = atoms + atoms[:1]  # an atom written twice
    ase.io.write(tmp_path / "dup.xyz", structures, format="extxyz")
    with pytest.raises(StructureError, match=r"^structure 2 of dup\.xyz: .*remove duplicated atoms"):
        GraphDataset.from_file(tmp_path / "dup.xyz", CUTOFF)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_positions(bad):
    structures = _molecules()
    structures[0].positions[1, 2] = bad
    with pytest.raises(
        StructureError, match=r"^structure 0 of train\.xyz: positions of atoms \[1\] are NaN or infinite; fix or drop"
    ):
        GraphDataset(structures, CUTOFF, source="train.xyz")


def test_nan_positions_read_from_a_file(tmp_path):
    ase.io.write(tmp_path / "nan.xyz", _molecules(), format="extxyz")
    lines = (tmp_path / "nan.xyz").read_text().splitlines()
    lines[2 + 3 + 2 + 1] = "H nan 0.0 0.0"  # second atom of the second structure
    (tmp_path / "nan.xyz").write_text("\n".join(lines) + "\n")
    with pytest.raises(StructureError, match=r"^structure 1 of nan\.xyz: positions of atoms \[1\] are NaN"):
        GraphDataset.from_file(tmp_path / "nan.xyz", CUTOFF)


@pytest.mark.parametrize(
    "cell",
    [
        np.zeros((3, 3)),  # no cell at all
        [[5.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 0.0, 5.0]],  # two parallel lattice vectors
        [[3.1, 1.7, -0.4], [-6.2, -3.4, 0.8], [0.5, 0.2, 9.0]],  # antiparallel, skewed, 10 Å scale
    ],
)
def test_singular_cell_with_pbc(cell):
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.set_cell(cell, scale_atoms=False)
    atoms.pbc = True
    with pytest.raises(
        StructureError, match=r"^structure 0 of bulk\.xyz: the cell has zero volume \(det = .* Å³\) .*turn periodicity off"
    ):
        GraphDataset([atoms], CUTOFF, source="bulk.xyz")


def test_singular_cell_is_fine_without_pbc():
    atoms = molecule("CH4")  # zero cell, pbc False
    assert len(GraphDataset([atoms], CUTOFF)) == 1


# --------------------------------------------------------------------------- missing labels
def test_missing_label_in_extxyz_suggests_the_closest_key(tmp_path):
    structures = _molecules(4)
    del structures[2].info["energy"]
    structures[2].info["REF_energy"] = -12.0
    ase.io.write(tmp_path / "train.xyz", structures, format="extxyz")
    with pytest.raises(
        MissingLabelInFileError,
        match=r"/train\.xyz: structure 2 \(0-based\) has no label 'energy' \(asked for 'energy'\); "
        r"keys present: \['REF_energy'\]\. did you mean 'REF_energy'\? Set the right key",
    ) as caught:
        GraphDataset.from_file(tmp_path / "train.xyz", CUTOFF, require=("energy",))
    assert isinstance(caught.value, DataFileError) and isinstance(caught.value, MissingLabelError)


def test_missing_label_in_ase_db(tmp_path):
    database = ase.db.connect(str(tmp_path / "train.db"))
    for number, atoms in enumerate(_molecules(3)):
        data = {} if number == 1 else {"REF_forces": np.zeros((len(atoms), 3))}
        database.write(atoms, key_value_pairs={"REF_energy": atoms.info["energy"]}, data=data)
    keys = LabelKeys(energy="REF_energy", forces="REF_forces")
    with pytest.raises(
        MissingLabelInFileError,
        match=r"/train\.db: structure 1 \(0-based\) has no label 'REF_forces' \(asked for 'forces'\); "
        r"keys present: \['REF_energy'\]\. Set the right key",  # no close key to suggest
    ):
        read_structures(tmp_path / "train.db", keys=keys, require=("energy", "forces"))


def test_missing_label_in_memory_names_the_structure():
    structures = _molecules()
    del structures[1].info["energy"]
    with pytest.raises(MissingLabelError, match=r"^structure 1 of mem\.xyz: label 'energy' .* is missing"):
        GraphDataset(structures, CUTOFF, require=("energy",), source="mem.xyz")


def test_require_of_an_unknown_target():
    with pytest.raises(ValueError, match=r"require names 'dipole'.*add it to LabelKeys\.graph_extra"):
        from equipot.data.readers import _check_labels  # the check behind read_structures

        _check_labels("x.xyz", _molecules(1), LabelKeys(), ("dipole",))


# ---------------------------------------------------------------------------- bad files
@pytest.mark.parametrize("name", ["garbage.xyz", "garbage.xyz.gz", "garbage.db"])
def test_binary_garbage(tmp_path, name):
    (tmp_path / name).write_bytes(os.urandom(4096))
    with pytest.raises(DataFileError, match=re.escape(name) + r": cannot read .*check"):
        read_structures(tmp_path / name)


def test_truncated_extxyz_names_the_structure(tmp_path):
    ase.io.write(tmp_path / "cut.xyz", [molecule("H2O"), molecule("CH4"), molecule("NH3")], format="extxyz")
    lines = (tmp_path / "cut.xyz").read_text().splitlines()
    (tmp_path / "cut.xyz").write_text("\n".join(lines[:8]) + "\n")  # 2 of CH4's 5 atoms
    with pytest.raises(DataFileError, match=r"cut\.xyz: cannot read structure 1 as extended XYZ .*truncated"):
        read_structures(tmp_path / "cut.xyz")


def test_malformed_number_in_extxyz(tmp_path):
    ase.io.write(tmp_path / "bad.xyz", _molecules(2), format="extxyz")
    text = (tmp_path / "bad.xyz").read_text().splitlines()
    text[2] = "O 0.0 zero 0.0"
    (tmp_path / "bad.xyz").write_text("\n".join(text) + "\n")
    with pytest.raises(DataFileError, match=r"bad\.xyz: cannot read the file as extended XYZ .*'zero'"):
        read_structures(tmp_path / "bad.xyz")


def test_file_not_found(tmp_path):
    with pytest.raises(DataFileNotFoundError, match=r"nowhere\.xyz' does not exist; check the path") as caught:
        GraphDataset.from_file(tmp_path / "nowhere.xyz", CUTOFF)
    assert isinstance(caught.value, FileNotFoundError)
    assert not (tmp_path / "nowhere.db").exists()
    with pytest.raises(DataFileNotFoundError, match=r"nowhere\.db' does not exist"):
        read_structures(tmp_path / "nowhere.db")
    assert not (tmp_path / "nowhere.db").exists(), "reading must not create a database"


@pytest.mark.parametrize("name", ["empty.xyz", "empty.extxyz", "empty.db"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(DataFileError, match=re.escape(name) + r": no structures in the file; check"):
        GraphDataset.from_file(tmp_path / name, CUTOFF)
    assert (tmp_path / name).read_bytes() == b"", "reading must not write"


def test_empty_gzip_and_empty_selection(tmp_path):
    (tmp_path / "empty.xyz.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(DataFileError, match=r"empty\.xyz\.gz: no structures in the file"):
        read_structures(tmp_path / "empty.xyz.gz")
    database = ase.db.connect(str(tmp_path / "data.db"))
    database.write(molecule("H2O"), config="molecule")
    with pytest.raises(DataFileError, match=r"data\.db: no structures matching select='config=bulk'.*query"):
        read_structures(tmp_path / "data.db", select="config=bulk")
    with pytest.raises(DataFileError, match=r"data\.db: no structures at index=5"):
        read_structures(tmp_path / "data.db", index=5)


def test_bad_select_query_and_select_on_extxyz(tmp_path):
    database = ase.db.connect(str(tmp_path / "data.db"))
    database.write(molecule("H2O"))
    with pytest.raises(DataFileError, match=r"data\.db: cannot read the ASE database with select="):
        read_structures(tmp_path / "data.db", select="energy <<< 3 ==")
    ase.io.write(tmp_path / "data.xyz", molecule("H2O"), format="extxyz")
    with pytest.raises(DataFileError, match=r"a select query .* only applies to ASE databases"):
        read_structures(tmp_path / "data.xyz", select="natoms<3")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "data.cif").write_text("data_x\n")
    with pytest.raises(DataFileError, match=r"data\.cif: unsupported file type; equipot reads \.xyz"):
        read_structures(tmp_path / "data.cif")


def test_empty_dataset():
    with pytest.raises(ValueError, match=r"GraphDataset from train\.xyz: no structures given"):
        GraphDataset([], CUTOFF, source="train.xyz")


# ------------------------------------------------------------- non-finite labels
def _labelled(n: int = 3) -> list[Atoms]:
    """Structures with energy, forces and stress in a SinglePointCalculator, as read from extxyz."""
    from ase.calculators.singlepoint import SinglePointCalculator

    structures = []
    for number in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.rattle(0.02, seed=number)
        atoms.calc = SinglePointCalculator(
            atoms, energy=-14.0 + 0.01 * number, forces=np.full((4, 3), 0.1), stress=np.full(6, 0.01)
        )
        structures.append(atoms)
    return structures


@pytest.mark.parametrize(
    ("label", "spoil", "message"),
    [
        ("forces", lambda a: a.calc.results["forces"].__setitem__((3, 1), np.nan), r"forces contains NaN \(atom 3\)"),
        ("energy", lambda a: a.calc.results.__setitem__("energy", np.inf), r"energy contains infinite values;"),
        ("stress", lambda a: a.calc.results["stress"].__setitem__(2, -np.inf), r"stress contains infinite values;"),
    ],
)
def test_non_finite_label_read_from_a_file_names_file_frame_and_atom(tmp_path, label, spoil, message):
    structures = _labelled()
    spoil(structures[2])
    ase.io.write(tmp_path / "train.xyz", structures, format="extxyz")
    with pytest.raises(NonFiniteLabelError, match=r"^structure 2 of train\.xyz: " + message + r".*fix or remove"):
        GraphDataset.from_file(tmp_path / "train.xyz", CUTOFF)


def test_non_finite_label_under_another_key_names_the_key():
    structures = _molecules()
    structures[1].info["E_dft"] = np.nan
    with pytest.raises(NonFiniteLabelError, match=r"^structure 1 of data\.xyz: energy \(key 'E_dft'\) contains NaN"):
        GraphDataset(structures, CUTOFF, keys=LabelKeys(energy="E_dft"), source="data.xyz")
    structures = _molecules()
    structures[0].arrays["f"] = np.zeros((3, 3))
    structures[0].arrays["f"][[0, 2], 0] = np.nan
    with pytest.raises(NonFiniteLabelError, match=r"forces \(key 'f'\) contains NaN \(atoms \[0, 2\]\)"):
        GraphDataset(structures, CUTOFF, keys=LabelKeys(energy=None, forces="f"), source="data.xyz")


# ------------------------------------------------------- one structure for a workflow
def test_read_structure_of_an_empty_or_truncated_file(tmp_path):
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(DataFileError, match=r"^cannot read a structure from .*empty\.xyz: .*empty, truncated"):
        read_structure(tmp_path / "empty.xyz")
    ase.io.write(tmp_path / "cut.xyz", bulk("Cu", cubic=True), format="extxyz")
    text = (tmp_path / "cut.xyz").read_text()
    (tmp_path / "cut.xyz").write_text(text[: len(text) // 2])
    with pytest.raises(DataFileError, match=r"cut\.xyz: XYZError: .*truncated"):
        read_structure(tmp_path / "cut.xyz")
    with pytest.raises(DataFileNotFoundError, match=r"structure file .*nowhere\.xyz does not exist; check the path"):
        read_structure(tmp_path / "nowhere.xyz")


def test_read_structure_refuses_nan_positions_naming_file_frame_and_atom(tmp_path):
    atoms = molecule("CH4")
    atoms.positions[3, 2] = np.nan
    ase.io.write(tmp_path / "nan.xyz", [molecule("CH4"), atoms], format="extxyz")
    with pytest.raises(StructureError, match=r"nan\.xyz, last frame: positions of atoms \[3\] are NaN or infinite"):
        read_structure(tmp_path / "nan.xyz")
    assert len(read_structure(tmp_path / "nan.xyz", index=0)) == 5  # the first frame is fine


def test_read_structure_refuses_a_zero_volume_periodic_cell(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.cell[2] = atoms.cell[1]  # two equal lattice vectors
    ase.io.write(tmp_path / "flat.xyz", atoms, format="extxyz")
    with pytest.raises(
        StructureError,
        match=r"flat\.xyz, last frame: the cell has zero volume \(det = 0 Å³\) but pbc=\[True, True, True\]; "
        r"set three independent lattice vectors",
    ):
        read_structure(tmp_path / "flat.xyz")


def test_check_cell_volume_says_what_needs_a_3d_cell():
    assert check_cell_volume(np.eye(3) * 2.0, "x", "phonons need") == pytest.approx(8.0)
    with pytest.raises(
        StructureError,
        match=r"^phonons: the cell has zero volume \(det = 0 Å³\); phonons need a 3-D periodic cell with three "
        r"independent lattice vectors",
    ):
        check_cell_volume(np.zeros((3, 3)), "phonons", "phonons need")
    skewed = np.array([[3.1, 1.7, -0.4], [-6.2, -3.4, 0.8], [0.5, 0.2, 9.0]])  # parallel rows, 10 Å scale
    with pytest.raises(StructureError, match="zero volume"):
        check_cell_volume(skewed, "relax", "relax_cell needs")
