"""Phonons of EMT Cu through phonopy: finite at X and L, acoustic branches to zero at
Gamma, equal to the Gamma-point modes of commensurate cubic cells (an independent route
through our own Hessian), and the exact-Hessian force constants of a model equal its
finite-displacement ones; files and plots are written."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from equipot.properties import phonons, vibrations
from equipot.properties.phonons import PhononResult

THZ_PER_CM = 0.0299792458


@pytest.fixture(scope="module")
def emt_phonons(emt_cu_lattice) -> PhononResult:
    # 4x4x4 primitive cells: X and L are commensurate, so phonopy is exact there
    return phonons(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice), supercell=(4, 4, 4))


def test_frequencies_at_x_and_l_are_finite_and_acoustic_branches_vanish_at_gamma(emt_phonons) -> None:
    gamma, x, l_point = emt_phonons.frequencies_at(["G", "X", "L"])
    np.testing.assert_allclose(gamma, 0.0, atol=1e-4)
    # transverse pair degenerate below the longitudinal branch, all a few THz
    for values in (x, l_point):
        assert np.all(np.isfinite(values)) and values[0] > 3.0 and values[2] < 10.0
        assert values[0] == pytest.approx(values[1], rel=1e-6) and values[2] > values[1] + 1.0
    # acoustic: frequency proportional to |q| near Gamma
    small = emt_phonons.frequencies_at([[0.01, 0.0, 0.01], [0.02, 0.0, 0.02]])
    np.testing.assert_allclose(small[1] / small[0], 2.0, rtol=1e-3)
    assert emt_phonons.frequencies_at(["Γ"]) == pytest.approx(gamma[None, :], abs=1e-9)


def test_x_and_l_equal_gamma_modes_of_commensurate_cubic_cells(emt_phonons, emt_cu_lattice) -> None:
    phonopy_x, phonopy_l = emt_phonons.frequencies_at(["X", "L"])
    # the 4-atom cubic cell folds the three X points onto Gamma (3 x [TA, TA, LA]); the
    # tolerance is the anharmonic error of phonopy's 0.01 Å displacements (1.1e-4 here)
    cubic = vibrations(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True))
    np.testing.assert_allclose(np.sort(cubic.frequencies_cm[3:]) * THZ_PER_CM, np.sort(np.tile(phonopy_x, 3)), rtol=3e-4)
    # the 32-atom cell (2x2x2 cubic) holds the L points among its Gamma modes
    large = vibrations(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True).repeat(2)).frequencies_cm * THZ_PER_CM
    for value in phonopy_l:
        assert np.abs(large - value).min() < 3e-4 * value


def test_conventional_input_cell_gives_the_same_phonons(emt_phonons, emt_cu_lattice) -> None:
    conventional = phonons(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True), supercell=(2, 2, 2))
    assert conventional.path == emt_phonons.path == "GXWKGLUWLK,UX"
    # X and L are commensurate with both supercells; they differ by the anharmonic error
    # of the 0.01 Å displacements (1e-4), which depends on the supercell
    np.testing.assert_allclose(conventional.frequencies_at(["X", "L"]), emt_phonons.frequencies_at(["X", "L"]), rtol=3e-4)


def test_exact_hessian_force_constants_equal_finite_displacements(cu_model) -> None:
    atoms = bulk("Cu", a=3.6)
    exact = phonons(cu_model, atoms, supercell=(3, 3, 3), exact_hessian=True)
    displaced = phonons(cu_model, atoms, supercell=(3, 3, 3), displacement=1e-3)
    assert (exact.method, displaced.method) == ("exact-hessian", "finite-displacements")
    points = ["X", "L", "K", [0.1, 0.2, 0.3]]
    reference = exact.frequencies_at(points)
    assert np.abs(reference).max() > 0.1  # a non-trivial model
    np.testing.assert_allclose(displaced.frequencies_at(points), reference, atol=1e-4 * np.abs(reference).max())


def test_writes_band_structure_dos_and_plots(emt_phonons, tmp_path) -> None:
    files = emt_phonons.write_files(tmp_path, npoints=11, mesh=(8, 8, 8))
    for name in ("band.yaml", "band.csv", "dos.csv", "bands.png", "dos.png", "phonopy_params.yaml"):
        assert files[name].is_file() and files[name].stat().st_size > 500, name
    band = yaml.safe_load(files["band.yaml"].read_text())
    assert len(band["phonon"]) == 10 * 11 and len(band["phonon"][0]["band"]) == 3
    bands = emt_phonons.band_structure(npoints=11)
    assert bands.labels == ["G", "X", "W", "K", "G", "L", "U", "W", "L", "K|U", "X"]
    assert len(bands.ticks) == len(bands.labels)
    dos = np.loadtxt(files["dos.csv"], delimiter=",", skiprows=1)
    # the DOS integrates to 3 branches per primitive cell
    assert np.trapezoid(dos[:, 1], dos[:, 0]) == pytest.approx(3.0, rel=0.03)


def test_bad_input_is_refused(emt_phonons) -> None:
    with pytest.raises(ValueError, match="periodic"):
        phonons(EMT(), molecule("H2O"))
    with pytest.raises(TypeError, match="needs an equipot model"):
        phonons(EMT(), bulk("Cu", a=3.6), exact_hessian=True)
    with pytest.raises(ValueError, match="unknown q-point label 'M'"):
        emt_phonons.frequencies_at(["M"])
