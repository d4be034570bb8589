"""Vibrations: an analytic Lennard-Jones dimer, zero-mode counts (6 nonlinear, 5 linear,
3 periodic) with warnings for imaginary modes, agreement with ASE's `Vibrations`, Eckart
projection, mode animations, and the pairing of a model's modes with a reference's by
eigenvector (`match_modes`)."""

from __future__ import annotations

import warnings

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.optimize import BFGS
from ase.vibrations import Vibrations

from equipot.properties import match_modes, newton_relax, vibrational_analysis, vibrations, write_mode_animation
from equipot.properties.vibrations import CM_PER_SQRT_EV_PER_A2_AMU, expected_zero_modes, external_basis


def _relaxed_emt(name: str) -> Atoms:
    atoms = molecule(name)
    atoms.calc = EMT()
    assert BFGS(atoms, logfile=None).run(fmax=1e-5, steps=500)
    return atoms


def test_unit_conversion_is_the_physical_constant() -> None:
    # sqrt(eV / (Å² amu)) / (2 pi c) in cm^-1, from CODATA: 521.47 cm^-1
    assert CM_PER_SQRT_EV_PER_A2_AMU == pytest.approx(521.4709, abs=1e-3)


def test_lennard_jones_dimer_has_the_analytic_frequency() -> None:
    epsilon, sigma = 0.5, 2.0  # eV, Å
    dimer = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 2 ** (1 / 6) * sigma]])
    result = vibrations(LennardJones(epsilon=epsilon, sigma=sigma, rc=10.0), dimer, delta=1e-4)
    k = 72 * epsilon / (2 ** (1 / 3) * sigma**2)  # V''(r_min), eV/Å²
    mu = dimer.get_masses()[0] / 2
    analytic = np.sqrt(k / mu) * CM_PER_SQRT_EV_PER_A2_AMU
    assert result.geometry == "linear" and result.n_zero_found == 5 and result.ok
    assert result.frequencies_cm[-1] == pytest.approx(analytic, rel=1e-6)
    assert result.internal_frequencies_cm == pytest.approx([analytic], rel=1e-6)


@pytest.mark.parametrize("name", ["H2O", "NH3"])
def test_nonlinear_molecule_has_six_zero_modes(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean minimum: no warning at all
        result = vibrations(EMT(), _relaxed_emt(name))
    assert (result.geometry, result.n_zero_expected, result.n_zero_found, result.n_imaginary) == ("nonlinear", 6, 6, 0)
    assert np.all(result.internal_frequencies_cm > 150.0)


def test_linear_molecules_have_five_zero_modes_and_imaginary_bends_are_flagged() -> None:
    nitrogen = vibrations(EMT(), _relaxed_emt("N2"))
    assert (nitrogen.geometry, nitrogen.n_zero_found, nitrogen.ok) == ("linear", 5, True)
    # EMT's linear CO2 is a saddle: it relaxes linear (by symmetry), but bending lowers it
    with pytest.warns(RuntimeWarning, match="2 imaginary mode"):
        co2 = vibrations(EMT(), _relaxed_emt("CO2"))
    assert (co2.geometry, co2.n_zero_found, co2.n_imaginary) == ("linear", 5, 2)
    assert co2.frequencies_cm[0] < -30.0 and not co2.ok


def test_periodic_cell_has_three_zero_modes() -> None:
    atoms = bulk("Cu", a=3.59, cubic=True)
    result = vibrations(EMT(), atoms)
    assert (result.geometry, result.n_zero_expected, result.n_zero_found, result.ok) == ("periodic", 3, 3, True)
    assert np.all(result.frequencies_cm[3:] > 100.0)  # optical Gamma modes of the 4-atom cell


def test_wrong_zero_mode_count_warns() -> None:
    water = molecule("H2O")
    water.positions[0, 2] += 0.15  # far from the minimum: rotations no longer at zero
    with pytest.warns(RuntimeWarning) as record:
        result = vibrations(EMT(), water)
    assert result.n_zero_found != 6 and len(result.messages) == 2
    texts = [str(warning.message) for warning in record]
    assert any("expected 6" in text for text in texts) and any("imaginary" in text for text in texts)
    assert record[0].filename == __file__  # the warning points at the caller


def test_agrees_with_ase_vibrations(tmp_path) -> None:
    water = _relaxed_emt("H2O")
    reference = Vibrations(water, name=str(tmp_path / "vib"), delta=1e-3, nfree=2)
    reference.run()
    expected = np.real(reference.get_frequencies()) - np.imag(reference.get_frequencies())
    result = vibrations(EMT(), water, delta=1e-3)
    np.testing.assert_allclose(result.frequencies_cm, np.sort(expected), atol=1e-3)


def test_projection_removes_external_modes_exactly() -> None:
    water = _relaxed_emt("H2O")
    water.positions[0] += [0.0, 0.002, 0.002]  # slightly off the minimum: rotations mix in
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = vibrations(EMT(), water)
        projected = vibrations(EMT(), water, project=True)
    assert projected.n_zero_found == raw.n_zero_found  # the check runs on the raw Hessian
    assert projected.projected and not raw.projected
    np.testing.assert_array_equal(projected.frequencies_cm[:6], 0.0)
    assert np.abs(raw.frequencies_cm[:6]).max() > 5.0
    # internal modes are orthogonal to rigid motions and close to the unprojected ones
    np.testing.assert_allclose(projected.frequencies_cm[6:], raw.frequencies_cm[6:], rtol=0.03)
    external = projected.mass_weighted_modes[:6]
    np.testing.assert_allclose(external @ projected.mass_weighted_modes[6:].T, 0.0, atol=1e-10)


def test_model_molecule_relaxed_by_newton_has_six_zero_modes(molecule_model) -> None:
    relaxed = newton_relax(molecule_model, molecule("CH4"), fmax=1e-6)
    assert relaxed.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = vibrations(molecule_model, relaxed.atoms)
    assert result.hessian_method == "autograd-vmap"
    assert result.n_zero_found == 6 and result.ok
    assert np.abs(result.frequencies_cm[:6]).max() < 2.0 and result.frequencies_cm[6] > 50.0


def test_mode_animation_is_one_period_of_the_mode(tmp_path) -> None:
    result = vibrations(EMT(), _relaxed_emt("H2O"))
    path = write_mode_animation(result, 8, tmp_path / "mode.extxyz", amplitude=0.2, n_frames=12)
    frames = ase.io.read(path, index=":")
    assert len(frames) == 12 and frames[3].info["frequency_cm"] == pytest.approx(result.frequencies_cm[8])
    displacement = frames[3].positions - result.atoms.positions  # sin(pi/2) = 1: full amplitude
    assert np.linalg.norm(displacement, axis=1).max() == pytest.approx(0.2)
    np.testing.assert_allclose(displacement.reshape(-1) / np.linalg.norm(displacement), result.modes[8].reshape(-1), atol=1e-9)


def test_geometry_classification_and_bad_input() -> None:
    assert expected_zero_modes(Atoms("Cu")) == (3, "atom")
    assert expected_zero_modes(molecule("CO2")) == (5, "linear")
    assert expected_zero_modes(molecule("H2O")) == (6, "nonlinear")
    with pytest.raises(ValueError, match=r"shape \[3N, 3N\] = \[9, 9\]"):
        vibrational_analysis(np.zeros((6, 6)), molecule("H2O"))


def _hessian_with_modes(atoms: Atoms, vectors: np.ndarray, eigenvalues: np.ndarray) -> np.ndarray:
    """Cartesian Hessian whose mass-weighted form has these internal eigenvectors (columns of
    ``vectors`` [3N, M]) and eigenvalues, and exact zeros for translations and rotations."""
    root = np.repeat(np.sqrt(atoms.get_masses()), 3)
    weighted = vectors @ np.diag(eigenvalues) @ vectors.T
    return root[:, None] * weighted * root[None, :]


def _internal_vectors(atoms: Atoms, seed: int = 0) -> np.ndarray:
    """[3N, M] random orthonormal vectors orthogonal to the mass-weighted rigid motions."""
    external = external_basis(atoms)
    q, _ = np.linalg.qr(external.T, mode="complete")
    internal = q[:, external.shape[0] :]
    rotation, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(internal.shape[1],) * 2))
    return internal @ rotation


def test_match_modes_pairs_permuted_and_rotated_modes_by_eigenvector() -> None:
    atoms = molecule("CH3CH2OH")
    vectors = _internal_vectors(atoms)
    eigenvalues = np.linspace(0.01, 0.5, vectors.shape[1])  # ascending, distinct
    reference = vibrational_analysis(_hessian_with_modes(atoms, vectors, eigenvalues), atoms, project=True)
    permutation = np.random.default_rng(1).permutation(len(eigenvalues))
    turned = vectors.copy()  # modes 3 and 4 of the model turned by 20° into each other
    angle = np.radians(20.0)
    turned[:, 3] = np.cos(angle) * vectors[:, 3] + np.sin(angle) * vectors[:, 4]
    turned[:, 4] = -np.sin(angle) * vectors[:, 3] + np.cos(angle) * vectors[:, 4]
    model = vibrational_analysis(_hessian_with_modes(atoms, turned, eigenvalues[permutation]), atoms, project=True)

    match = match_modes(model, reference)
    frequencies = np.sqrt(eigenvalues) * CM_PER_SQRT_EV_PER_A2_AMU
    np.testing.assert_allclose(match.reference_frequencies_cm, frequencies, rtol=1e-10)
    np.testing.assert_array_equal(match.model_index, permutation)  # each mode found back
    np.testing.assert_allclose(match.model_frequencies_cm, frequencies[permutation], rtol=1e-10)
    expected_overlaps = np.ones(len(eigenvalues))
    expected_overlaps[[3, 4]] = np.cos(angle) ** 2
    np.testing.assert_allclose(match.overlaps, expected_overlaps, atol=1e-10)
    assert match.mae_cm == pytest.approx(np.abs(frequencies[permutation] - frequencies).mean())
    assert match.sorted_mae_cm == pytest.approx(0.0, abs=1e-8)  # same set of numbers: pairing by rank sees no error


def test_match_modes_charges_an_imaginary_mode_to_that_mode_only() -> None:
    atoms = molecule("CH3CH2OH")
    vectors = _internal_vectors(atoms, seed=2)
    eigenvalues = np.linspace(0.01, 0.5, vectors.shape[1])
    reference = vibrational_analysis(_hessian_with_modes(atoms, vectors, eigenvalues), atoms, project=True)
    soft = eigenvalues.copy()
    soft[10] = -0.01  # mode 10 of the model turns imaginary
    with pytest.warns(RuntimeWarning, match="imaginary"):
        model = vibrational_analysis(_hessian_with_modes(atoms, vectors, soft), atoms, project=True)
    match = match_modes(model, reference)
    errors = np.abs(match.errors_cm)
    assert errors[10] > 0 and np.delete(errors, 10).max() < 1e-8
    assert match.model_frequencies_cm[10] < 0
    assert np.abs(match.sorted_errors_cm)[:11].min() > 1.0  # by rank, modes 0-10 are all shifted
    # ranks are the best pairing of two lists of numbers, so they never report more error,
    # and here spread the one wrong mode's error over eleven pairs
    assert match.sorted_mae_cm <= match.mae_cm + 1e-9
    assert match.max_error_cm > 2 * np.abs(match.sorted_errors_cm).max()


def test_match_modes_of_the_same_method_gives_zero_error() -> None:
    tblite = pytest.importorskip("tblite.ase")
    water = molecule("H2O")
    water.calc = tblite.TBLite(method="GFN2-xTB", verbosity=0)
    assert BFGS(water, logfile=None).run(fmax=1e-4, steps=200)
    with warnings.catch_warnings():  # the unprojected finite-difference Hessian has a soft rotation
        warnings.simplefilter("ignore")
        first = vibrations(tblite.TBLite(method="GFN2-xTB", verbosity=0), water, project=True)
        second = vibrations(tblite.TBLite(method="GFN2-xTB", verbosity=0), water.copy(), project=True)
    match = match_modes(second, first)
    np.testing.assert_array_equal(match.model_index, np.arange(3))
    assert match.mae_cm == pytest.approx(0.0, abs=1e-6) and match.max_error_cm == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(match.overlaps, 1.0, atol=1e-8)
    assert 1500 < match.reference_frequencies_cm[0] < match.reference_frequencies_cm[2] < 4000  # bend, stretches


def test_match_modes_refuses_other_structures_and_geometries() -> None:
    water = _relaxed_emt("H2O")
    reference = vibrations(EMT(), water, project=True)
    with pytest.raises(ValueError, match="different structures .* compute both vibrations of the same atoms"):
        match_modes(vibrations(EMT(), _relaxed_emt("NH3"), project=True), reference)
    moved = water.copy()
    moved.positions[1] += [0.05, 0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = vibrations(EMT(), moved, project=True)
    with pytest.raises(ValueError, match=r"geometries differ by up to 0.05 Å .* at the reference geometry"):
        match_modes(other, reference)
