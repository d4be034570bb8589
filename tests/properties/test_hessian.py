"""The exact Hessian of a model: equal to finite differences of its forces, symmetric,
the same through the vectorized and the looped backward passes, and translation invariant."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from equipot.properties import exact_hessian, finite_difference_hessian, hessian, hessian_of


@pytest.fixture(scope="module")
def rattled_ethanol():
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=0)
    return atoms


def test_exact_hessian_matches_finite_differences_of_the_forces(molecule_model, rattled_ethanol) -> None:
    exact = exact_hessian(molecule_model, rattled_ethanol)
    numeric = finite_difference_hessian(molecule_model, rattled_ethanol, delta=1e-4)
    assert exact.method == "autograd-vmap" and numeric.method == "finite-differences"
    assert exact.matrix.shape == (27, 27)
    scale = np.abs(exact.matrix).max()
    assert scale > 1.0  # a non-trivial surface
    np.testing.assert_allclose(exact.matrix, numeric.matrix, atol=1e-6 * scale)
    # exact: symmetric to round-off before symmetrizing; finite differences: to O(delta^2)
    assert exact.max_asymmetry < 1e-10 * scale
    np.testing.assert_array_equal(exact.matrix, exact.matrix.T)


def test_periodic_hessian_matches_finite_differences(cu_model) -> None:
    atoms = bulk("Cu", a=3.6, cubic=True)  # 4 atoms; each interacts with its own images
    atoms.rattle(0.05, seed=1)
    exact = hessian(cu_model, atoms)
    numeric = finite_difference_hessian(cu_model, atoms, delta=1e-4).matrix
    np.testing.assert_allclose(exact, numeric, atol=1e-6 * np.abs(exact).max())
    # translating the whole cell changes nothing: every row sums to zero over the atoms
    np.testing.assert_allclose(exact.reshape(12, 4, 3).sum(axis=1), 0.0, atol=1e-10 * np.abs(exact).max())


def test_looped_fallback_equals_vectorized(molecule_model, rattled_ethanol) -> None:
    batched = exact_hessian(molecule_model, rattled_ethanol, chunk_size=10)
    looped = exact_hessian(molecule_model, rattled_ethanol, vectorize=False)
    assert (batched.method, looped.method) == ("autograd-vmap", "autograd-loop")
    np.testing.assert_allclose(batched.matrix, looped.matrix, rtol=0, atol=1e-12)


def test_float32_model_hessian_is_symmetric_to_single_precision(molecule_model, rattled_ethanol) -> None:
    result = exact_hessian(molecule_model.converted(torch.float32), rattled_ethanol)
    reference = hessian(molecule_model, rattled_ethanol)
    assert result.max_asymmetry < 1e-3 * np.abs(reference).max()
    np.testing.assert_allclose(result.matrix, reference, atol=1e-3 * np.abs(reference).max())


def test_calculators_use_finite_differences_and_models_autograd(molecule_model) -> None:
    water = molecule("H2O")
    assert hessian_of(EMT(), water).method == "finite-differences"
    assert hessian_of(molecule_model, water).method == "autograd-vmap"
    assert hessian_of(molecule_model, water, delta=1e-3).method == "finite-differences"


def test_bad_input_is_refused(molecule_model) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        exact_hessian(molecule_model, molecule("H2O"), chunk_size=0)
    with pytest.raises(ValueError, match="delta"):
        finite_difference_hessian(EMT(), molecule("H2O"), delta=0.0)
    with pytest.raises(TypeError, match="ASE calculator"):
        finite_difference_hessian("EMT", molecule("H2O"))  # type: ignore[arg-type]


def test_falls_back_to_a_loop_when_the_batched_path_fails(molecule_model, monkeypatch) -> None:
    hessian_module = sys.modules["equipot.properties.hessian"]  # the attribute is the function

    def broken(*args, **kwargs):
        raise RuntimeError("Batching rule not implemented for aten::something")

    monkeypatch.setattr(hessian_module, "_rows_batched", broken)
    with pytest.warns(RuntimeWarning, match="falling back to a loop"):
        result = exact_hessian(molecule_model, molecule("H2O"))
    assert result.method == "autograd-loop"
    monkeypatch.undo()
    np.testing.assert_allclose(result.matrix, hessian(molecule_model, molecule("H2O")), atol=1e-12)
