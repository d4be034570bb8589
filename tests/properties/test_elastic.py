"""Elastic constants: EMT Cu against an independent energy-strain fit, cubic symmetry of
the matrix, relaxed vs clamped ions on hcp (where internal relaxation matters), autograd
vs finite differences for a model, moduli formulas and the warnings."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from equipot.properties import elastic_moduli, elastic_tensor, elastic_tensor_autograd, strain_matrix


def _energy_density_curvature(atoms, voigt_direction: np.ndarray) -> float:
    """d2(E/V)/ds2 (GPa) along a Voigt strain s * direction, from a quadratic fit of EMT energies."""
    steps = np.linspace(-0.004, 0.004, 9)
    energies = []
    for s in steps:
        strained = atoms.copy()
        strained.set_cell(np.array(atoms.cell) @ (np.eye(3) + strain_matrix(s * voigt_direction)), scale_atoms=True)
        strained.calc = EMT()
        energies.append(strained.get_potential_energy())
    quadratic = np.polyfit(steps, np.array(energies) / atoms.get_volume(), 4)[2]
    return 2 * quadratic / units.GPa


@pytest.fixture(scope="module")
def emt_cubic(emt_cu_lattice):
    return elastic_tensor(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True))


def test_emt_copper_matches_an_energy_strain_fit(emt_cubic, emt_cu_lattice) -> None:
    atoms = bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True)
    c11 = _energy_density_curvature(atoms, np.array([1.0, 0, 0, 0, 0, 0]))  # E/V = C11 s^2 / 2
    c11_plus_c12 = _energy_density_curvature(atoms, np.array([1.0, 1.0, 0, 0, 0, 0])) / 2  # (C11 + C12) s^2
    c44 = _energy_density_curvature(atoms, np.array([0, 0, 0, 1.0, 0, 0]))  # C44 gamma^2 / 2
    constants = emt_cubic.cubic()
    assert constants["C11"] == pytest.approx(c11, rel=1e-3)
    assert constants["C12"] == pytest.approx(c11_plus_c12 - c11, rel=2e-3)
    assert constants["C44"] == pytest.approx(c44, rel=1e-3)
    assert 150 < constants["C11"] < 200 and 100 < constants["C12"] < 130 and 75 < constants["C44"] < 100


def test_cubic_matrix_is_symmetric_with_cubic_structure(emt_cubic) -> None:
    c = emt_cubic.raw
    assert emt_cubic.max_asymmetry < 1e-6 and not emt_cubic.messages
    np.testing.assert_allclose(np.diag(c)[:3], c[0, 0], rtol=1e-9)
    np.testing.assert_allclose([c[0, 1], c[0, 2], c[1, 2]], c[0, 1], rtol=1e-9)
    np.testing.assert_allclose(np.diag(c)[3:], c[3, 3], rtol=1e-9)
    zero = np.ones((6, 6), dtype=bool)
    zero[:3, :3] = False
    zero[np.diag_indices(6)] = False
    np.testing.assert_allclose(c[zero], 0.0, atol=1e-6)


def test_moduli_of_a_cubic_crystal_follow_the_closed_forms(emt_cubic) -> None:
    c = emt_cubic.cubic()
    moduli = emt_cubic.moduli
    bulk_modulus = (c["C11"] + 2 * c["C12"]) / 3
    assert moduli["bulk_voigt"] == pytest.approx(bulk_modulus) and moduli["bulk_reuss"] == pytest.approx(bulk_modulus)
    assert moduli["shear_voigt"] == pytest.approx((c["C11"] - c["C12"] + 3 * c["C44"]) / 5)
    shear_reuss = 5 * (c["C11"] - c["C12"]) * c["C44"] / (4 * c["C44"] + 3 * (c["C11"] - c["C12"]))
    assert moduli["shear_reuss"] == pytest.approx(shear_reuss)
    assert moduli["shear_hill"] == pytest.approx((moduli["shear_voigt"] + shear_reuss) / 2)


def test_relaxing_ions_softens_hcp_in_plane_only(emt_cu_lattice) -> None:
    a = emt_cu_lattice / np.sqrt(2)
    hcp = bulk("Cu", "hcp", a=a, c=a * np.sqrt(8 / 3))
    with pytest.warns(RuntimeWarning, match="under stress"):  # ideal c/a is not EMT's
        clamped = elastic_tensor(EMT(), hcp)
    with pytest.warns(RuntimeWarning, match="under stress"):
        relaxed = elastic_tensor(EMT(), hcp, relax_ions=True, fmax=1e-5)
    assert relaxed.relaxed_ions and not clamped.relaxed_ions
    # relaxation can only lower the energy of a strained cell: C_clamped - C_relaxed >= 0
    difference = np.linalg.eigvalsh(clamped.matrix - relaxed.matrix)
    assert difference.min() > -0.05 and difference.max() > 10.0
    # in-plane strains move the two hcp sublattices (C11, C12, C66 soften); strains along
    # c keep every atom at a symmetric site (C33, C13, C44 unchanged)
    assert clamped.matrix[0, 0] - relaxed.matrix[0, 0] > 10.0 and clamped.matrix[5, 5] - relaxed.matrix[5, 5] > 10.0
    for i, j in [(2, 2), (0, 2), (3, 3)]:
        assert relaxed.matrix[i, j] == pytest.approx(clamped.matrix[i, j], abs=0.05)
    # both obey hexagonal symmetry: C66 = (C11 - C12) / 2
    for c in (clamped.matrix, relaxed.matrix):
        assert c[5, 5] == pytest.approx((c[0, 0] - c[0, 1]) / 2, rel=5e-3)


def test_autograd_tensor_of_a_model_equals_finite_differences(cu_model) -> None:
    atoms = bulk("Cu", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=2)  # low symmetry: all 36 entries matter
    with pytest.warns(RuntimeWarning):  # an untrained model: the cell is under stress
        exact = elastic_tensor_autograd(cu_model, atoms)
    with pytest.warns(RuntimeWarning):
        numeric = elastic_tensor(cu_model, atoms, strain=1e-4)
    assert exact.method == "autograd" and numeric.method == "finite-differences"
    scale = np.abs(exact.raw).max()
    assert scale > 0.3
    np.testing.assert_allclose(exact.raw, numeric.raw, atol=1e-5 * scale)
    np.testing.assert_allclose(exact.reference_stress, numeric.reference_stress, atol=1e-12)


def test_asymmetric_matrix_warns(emt_cu_lattice) -> None:
    atoms = bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True)
    atoms.set_cell(np.array(atoms.cell) @ np.diag([1.03, 1.0, 1.0]), scale_atoms=True)
    # under uniaxial stress d(stress)/d(strain) is not symmetric (terms of order sigma)
    with pytest.warns(RuntimeWarning) as record:
        result = elastic_tensor(EMT(), atoms, asymmetry_tolerance=0.1)
    assert result.max_asymmetry > 0.1 and len(result.messages) == 2
    assert any("not symmetric" in str(w.message) for w in record)
    np.testing.assert_allclose(result.matrix, result.matrix.T)


def test_bad_input_is_refused() -> None:
    from ase.build import molecule

    with pytest.raises(ValueError, match="periodic"):
        elastic_tensor(EMT(), molecule("H2O"))
    with pytest.raises(ValueError, match="strain"):
        elastic_tensor(EMT(), bulk("Cu", a=3.6), strain=0.5)
    with pytest.raises(ValueError, match="optimizer"):
        elastic_tensor(EMT(), bulk("Cu", a=3.6), relax_ions=True, optimizer="LBFGS-B")
    with pytest.raises(np.linalg.LinAlgError):
        elastic_moduli(np.zeros((6, 6)))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda atoms: atoms.positions.__setitem__((1, 2), np.nan), "atoms: positions of atoms \\[1\\] are NaN or infinite"),
        (lambda atoms: atoms.set_cell(np.zeros((3, 3))), "elastic constants: the cell has zero volume"),
    ],
)
def test_a_structure_with_nan_positions_or_a_flat_cell_is_refused_before_any_calculation(spoil, message) -> None:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    spoil(atoms)
    with pytest.raises(ValueError, match=message):
        elastic_tensor(EMT(), atoms)
