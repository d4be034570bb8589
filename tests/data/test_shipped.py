"""The shipped reference datasets: readable, complete, finite, and reproducible by their
reference methods (tblite GFN2-xTB for ethanol, ASE's EMT for Cu)."""

from __future__ import annotations

import functools
import json

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT

from equipot.data.shipped import GFN2_XTB_ISOLATED_ATOM_ENERGIES, SHIPPED_DATASETS, read_shipped_dataset, shipped_dataset_path

EXPECTED = {  # name -> (n_frames, n_atoms, periodic, labels)
    "ethanol": (1500, 9, False, ("energy", "forces", "dipole")),
    "ethanol_1000K": (200, 9, False, ("energy", "forces", "dipole")),
    "ethanol_polarizability": (1500, 9, False, ("energy", "forces", "dipole")),
    "cu": (700, 108, True, ("energy", "forces", "stress")),
    "cu_cold": (200, 108, True, ("energy", "forces", "stress")),
}
LABEL_SHAPES = {"energy": (), "forces": ("n_atoms", 3), "dipole": (3,), "stress": (6,)}


@functools.cache
def frames(name: str) -> list[Atoms]:
    return read_shipped_dataset(name)


def provenance(name: str) -> dict:
    path = shipped_dataset_path(name)
    return json.loads(path.with_name(path.name.removesuffix(".xyz.gz") + ".json").read_text())


def test_registry_matches_expected_names() -> None:
    assert set(SHIPPED_DATASETS) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_frame_count_atoms_and_provenance(name: str) -> None:
    n_frames, n_atoms, periodic, _ = EXPECTED[name]
    images = frames(name)
    assert len(images) == n_frames
    assert all(len(atoms) == n_atoms for atoms in images)
    assert all(bool(atoms.pbc.all()) is periodic for atoms in images)
    assert provenance(name)["n_frames"] == n_frames
    assert provenance(name)["dataset"] == shipped_dataset_path(name).name


def test_plain_ase_read_gives_the_same_frames() -> None:
    """``ase.io.read`` on the .gz path works (slowly, so only the small set) and agrees."""
    direct = ase.io.read(shipped_dataset_path("ethanol_1000K"), index=":")
    assert len(direct) == len(frames("ethanol_1000K"))
    for a, b in zip(direct[::50], frames("ethanol_1000K")[::50]):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())
        np.testing.assert_array_equal(a.get_dipole_moment(), b.get_dipole_moment())
        assert "dipole" not in a.info  # the reader moves it to the calculator


@pytest.mark.parametrize("name", list(EXPECTED))
def test_labels_present_finite_and_shaped(name: str) -> None:
    _, n_atoms, _, labels = EXPECTED[name]
    for atoms in frames(name):
        # ASE's extxyz reader puts every known property, dipole included, on the calculator
        assert set(atoms.calc.results) == set(labels)
        assert not set(labels) & set(atoms.info)
        for label in labels:
            value = np.asarray(atoms.calc.results[label])
            shape = tuple(n_atoms if dim == "n_atoms" else dim for dim in LABEL_SHAPES[label])
            assert value.shape == shape, (name, label)
            assert np.isfinite(value).all(), (name, label)


def test_labels_vary_across_frames() -> None:
    """The datasets sample a surface, not one point: energies, dipoles, stresses spread."""
    ethanol = frames("ethanol")
    assert np.ptp([a.get_potential_energy() for a in ethanol]) > 0.5
    assert np.std([a.get_dipole_moment() for a in ethanol], axis=0).min() > 0.05
    stress = np.array([a.get_stress() for a in frames("cu")])
    assert (stress.std(axis=0) > 1e-3).all()  # every Voigt component varies with the strain
    hot = np.mean([a.get_potential_energy() for a in frames("ethanol_1000K")])
    assert hot > np.mean([a.get_potential_energy() for a in ethanol])


@pytest.mark.parametrize(("name", "index"), [("ethanol", 0), ("ethanol", 777), ("ethanol", -1),
                                             ("ethanol_1000K", 0), ("ethanol_1000K", -1)])
def test_ethanol_matches_fresh_gfn2(name: str, index: int) -> None:
    tblite_ase = pytest.importorskip("tblite.ase")
    stored = frames(name)[index]
    atoms = Atoms(numbers=stored.numbers, positions=stored.positions, pbc=False)
    accuracy = provenance(name)["label_accuracy"]  # labels: fresh single points at this accuracy
    atoms.calc = tblite_ase.TBLite(method="GFN2-xTB", accuracy=accuracy, verbosity=0)
    np.testing.assert_allclose(atoms.get_forces(), stored.get_forces(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(atoms.get_potential_energy(), stored.get_potential_energy(),
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(atoms.get_dipole_moment(), stored.get_dipole_moment(),
                               rtol=0, atol=1e-4)


@pytest.mark.parametrize("symbol", ["H", "C", "O"])
def test_isolated_atom_energies_are_fresh_gfn2(symbol: str) -> None:
    tblite_ase = pytest.importorskip("tblite.ase")
    atom = Atoms(symbol)
    atom.calc = tblite_ase.TBLite(method="GFN2-xTB", accuracy=provenance("ethanol")["label_accuracy"], verbosity=0)
    assert abs(atom.get_potential_energy() - GFN2_XTB_ISOLATED_ATOM_ENERGIES[symbol]) < 1e-5


@pytest.mark.parametrize("index", [0, 349, -1])
def test_cu_matches_fresh_emt(index: int) -> None:
    stored = frames("cu")[index]
    atoms = Atoms(numbers=stored.numbers, positions=stored.positions, cell=stored.cell, pbc=True)
    atoms.calc = EMT()
    np.testing.assert_allclose(atoms.get_potential_energy(), stored.get_potential_energy(),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(atoms.get_forces(), stored.get_forces(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(atoms.get_stress(), stored.get_stress(), rtol=0, atol=1e-8)


def test_polarizabilities_are_symmetric_positive_and_on_the_ethanol_frames() -> None:
    """Finite-field GFN2-xTB polarizabilities (Å³) of the first 1500 shipped ethanol frames."""
    for labelled, plain in zip(frames("ethanol_polarizability")[::100], frames("ethanol")[::100]):
        np.testing.assert_allclose(labelled.positions, plain.positions, atol=1e-8)
        alpha = np.asarray(labelled.info["polarizability"], dtype=float).reshape(3, 3)
        np.testing.assert_allclose(alpha, alpha.T, atol=1e-10)
        eigenvalues = np.linalg.eigvalsh(alpha)
        assert eigenvalues.min() > 0.5 and eigenvalues.max() < 10.0  # Å³; ethanol ~2.3 mean


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown shipped dataset 'water'") as error:
        shipped_dataset_path("water")
    for name in EXPECTED:
        assert repr(name) in str(error.value)
