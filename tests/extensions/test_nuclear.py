"""The two-nucleon potential: its irreps paths, symmetries (joint rotation, parity,
exchange, time reversal), derivatives against finite differences, the tensor operator
S12 (classical and as 4 x 4 Pauli matrices), recovery of the radial functions by a short
fit, bad input, and the data script."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from e3nn import o3

from equipot.extensions import fit_full_batch
from equipot.extensions.nuclear import (
    SH_IRREPS,
    ToyNucleonReference,
    TwoNucleonPotential,
    angular_structure_error,
    pauli_pair,
    relative_error,
    sample_configurations,
    tensor_operator,
    tensor_operator_matrix,
)
from equipot.testing.transforms import random_rotation

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> TwoNucleonPotential:
    torch.manual_seed(0)
    return TwoNucleonPotential(hidden=8, energy_scale=10.0)


def rotate(rotation: np.ndarray, r, s1, s2):
    """Space rotation R acts on r as R r and on the axial spins as det(R) R s."""
    R = torch.as_tensor(rotation)
    det = float(np.linalg.det(rotation))
    return r @ R.T, det * s1 @ R.T, det * s2 @ R.T


def test_e3nn_finds_exactly_the_central_spin_spin_and_tensor_paths(model) -> None:
    assert model.path_names == ["central", "spin_spin", "tensor"]
    # the only other invariant of r_hat and a spin pair is r_hat.(s1 x s2), a pseudoscalar
    odd = o3.FullyConnectedTensorProduct(SH_IRREPS, model.pair_irreps, "0o")
    assert [(SH_IRREPS[i.i_in1].ir, model.pair_irreps[i.i_in2].ir) for i in odd.instructions] == [
        (o3.Irrep("1o"), o3.Irrep("1e"))
    ]


@pytest.mark.parametrize("improper", [False, True])
def test_joint_rotation_of_position_and_spins_leaves_v_invariant(model, improper) -> None:
    r, s1, s2 = sample_configurations(20, seed=1)
    rotation = random_rotation(np.random.default_rng(2), improper=improper)
    with torch.no_grad():
        v = model(r, s1, s2)
        assert torch.allclose(model(*rotate(rotation, r, s1, s2)), v, rtol=0, atol=1e-10 * float(v.abs().max()))


def test_rotating_the_position_alone_changes_v_through_the_tensor_part(model) -> None:
    r, s1, s2 = sample_configurations(20, seed=1)
    rotation = torch.as_tensor(random_rotation(np.random.default_rng(3)))
    with torch.no_grad():
        v = model(r, s1, s2)
        change = model(r @ rotation.T, s1, s2) - v
        tensor = model.radial_functions(r.norm(dim=-1))["tensor"]
        # same distance, so only the S12 term changes: by V_T (S12' - S12)
        expected = tensor * (tensor_operator(r @ rotation.T, s1, s2) - tensor_operator(r, s1, s2))
    assert change.abs().max() > 1e-3 * v.abs().max()
    assert torch.allclose(change, expected, atol=1e-10 * float(v.abs().max()))


def test_exchange_of_the_nucleons_and_time_reversal_leave_v_invariant(model) -> None:
    r, s1, s2 = sample_configurations(20, seed=4)
    with torch.no_grad():
        v = model(r, s1, s2)
        atol = 1e-10 * float(v.abs().max())
        assert torch.allclose(model(-r, s2, s1), v, atol=atol)
        assert torch.allclose(model(r, -s1, -s2), v, atol=atol)


def test_forces_and_spin_gradients_match_finite_differences(model) -> None:
    r, s1, s2 = (t.clone().requires_grad_() for t in sample_configurations(4, seed=5))
    grads = torch.autograd.grad(model(r, s1, s2).sum(), (r, s1, s2))
    h = 1e-6
    for which, grad in enumerate(grads):
        inputs = [r.detach(), s1.detach(), s2.detach()]
        numeric = torch.zeros_like(grad)
        for k in range(3):
            step = torch.zeros_like(inputs[which])
            step[:, k] = h
            plus = list(inputs)
            minus = list(inputs)
            plus[which] = inputs[which] + step
            minus[which] = inputs[which] - step
            with torch.no_grad():
                numeric[:, k] = (model(*plus) - model(*minus)) / (2 * h)
        assert torch.allclose(grad, numeric, rtol=1e-6, atol=1e-7), which


def test_the_learned_coupling_is_exactly_a_spin_spin_plus_s12_structure(model) -> None:
    r, _, _ = sample_configurations(30, seed=6)
    with torch.no_grad():
        assert angular_structure_error(model, r) < 1e-12
        central, coupling = model.spin_coupling(r)
        parts = model.radial_functions(r.norm(dim=-1))
        _, s1, s2 = sample_configurations(30, seed=8)
        rebuilt = central + parts["spin_spin"] * (s1 * s2).sum(-1) + parts["tensor"] * tensor_operator(r, s1, s2)
        assert torch.allclose(model(r, s1, s2), rebuilt, atol=1e-10 * float(rebuilt.abs().max()))
        assert torch.allclose(central, parts["central"], atol=1e-10 * float(central.abs().max()))  # isotropic


def test_the_operator_form_satisfies_the_s12_identities(model) -> None:
    r_hat = np.array([0.36, -0.48, 0.8])
    s12 = tensor_operator_matrix(r_hat)
    sigma_sigma = sum(pauli_pair(a, a) for a in range(3))
    np.testing.assert_allclose(s12 @ s12, 6 * np.eye(4) + 2 * sigma_sigma - 2 * s12, atol=1e-12)
    np.testing.assert_allclose(np.trace(s12), 0, atol=1e-12)  # S12 averages to zero over spins
    r = torch.as_tensor(2.0 * r_hat)[None]
    with torch.no_grad():
        matrix = model.operator(r)[0]
        parts = {k: float(v[0]) for k, v in model.radial_functions(r.norm(dim=-1)).items()}
    np.testing.assert_allclose(matrix, matrix.conj().T, atol=1e-12)
    learned = (matrix - parts["central"] * np.eye(4) - parts["spin_spin"] * sigma_sigma) / parts["tensor"]
    np.testing.assert_allclose(learned, s12, atol=1e-10)
    # S12 is 0 on the singlet and has eigenvalues 2, 2, -4 on the triplet
    assert np.allclose(sorted(np.linalg.eigvalsh(s12)), [-4, 0, 2, 2], atol=1e-12)


def test_a_short_fit_recovers_the_reference_radial_functions() -> None:
    torch.manual_seed(0)
    reference = ToyNucleonReference()
    r, s1, s2 = sample_configurations(400, seed=9)
    v = reference(r, s1, s2)
    scale = float(v.std())
    model = TwoNucleonPotential(hidden=16, energy_scale=scale)
    fit_full_batch(model, lambda: ((model(r, s1, s2) - v) / scale).pow(2).mean(), steps=400, learning_rate=2e-2)
    distance = torch.linspace(0.8, 4.0, 50, dtype=torch.float64)
    with torch.no_grad():
        fitted, exact = model.radial_functions(distance), reference.radial_functions(distance)
    assert relative_error(fitted["tensor"], exact["tensor"]) < 0.1
    assert relative_error(fitted["central"], exact["central"]) < 0.1


def test_inputs_of_the_wrong_shape_get_a_clear_message(model) -> None:
    r, s1, _ = sample_configurations(3)
    with pytest.raises(ValueError, match=r"r, s1 and s2 must all be \[n, 3\]; got \(3, 3\), \(3, 3\), \(3, 2\)"):
        model(r, s1, s1[:, :2])


def test_the_data_script_writes_data_with_provenance(tmp_path, monkeypatch) -> None:
    output = tmp_path / "nuclear.npz"
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["generate_nuclear_tensor.py", "--n", "10", "--output", str(output)])
    runpy.run_path(str(ROOT / "scripts" / "generate_nuclear_tensor.py"), run_name="__main__")
    data = np.load(output)
    assert data["r"].shape == (10, 3) and data["V"].shape == (10,)
    expected = ToyNucleonReference()(*(torch.from_numpy(data[k]) for k in ("r", "s1", "s2")))
    np.testing.assert_allclose(data["V"], expected.numpy(), rtol=1e-12)
    assert (tmp_path / "nuclear.json").exists()
