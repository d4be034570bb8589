"""Vibrations: an analytic Lennard-Jones dimer, zero-mode counts (6 nonlinear, 5 linear,
3 periodic) with warnings for imaginary modes, agreement with ASE's `Vibrations`, Eckart
projection, and mode animations."""

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

from equipot.properties import newton_relax, vibrational_analysis, vibrations, write_mode_animation
from equipot.properties.vibrations import CM_PER_SQRT_EV_PER_A2_AMU, expected_zero_modes


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
