"""Excited states from a diabatic Hamiltonian: invariance of the adiabatic energies,
equivariance of forces and couplings (couplings up to the sign of the states), forces and
couplings against finite differences (of energies and of eigenvectors), the analytic
linear vibronic coupling reference and its conical intersection, the sign-invariant
coupling error, a short fit, bad input, and the data script."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.data import atomic_numbers

from equipot.data.atoms import graph_from_atoms
from equipot.extensions.excited import (
    DiabaticHamiltonianModel,
    LinearVibronicReference,
    adiabatic_states,
    molecule_graphs,
    sample_vibronic_frames,
    sign_invariant_error,
    triatomic_positions,
)
from equipot.models.potential import EquivariantPotential
from equipot.testing.transforms import random_rotation

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = LinearVibronicReference()
NUMBERS = [atomic_numbers[s] for s in REFERENCE.symbols]


@pytest.fixture(scope="module")
def model() -> DiabaticHamiltonianModel:
    torch.manual_seed(0)
    backbone = EquivariantPotential(species=list(REFERENCE.symbols), cutoff=4.0, num_channels=4, lmax=1, num_layers=1,
                                    dtype=torch.float64)
    model = DiabaticHamiltonianModel(backbone, n_states=3, hidden=8)
    with torch.no_grad():
        model.species_bias.normal_()  # well separated states, so the couplings are finite
    return model


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return sample_vibronic_frames(REFERENCE, 3, near_intersection=0.0, seed=1)


def evaluate(model: DiabaticHamiltonianModel, positions: torch.Tensor):
    return model(molecule_graphs(positions, NUMBERS, model.cutoff))


@pytest.mark.parametrize("improper", [False, True])
def test_energies_are_invariant_forces_and_couplings_rotate(model, frames, improper) -> None:
    rotation = torch.from_numpy(random_rotation(np.random.default_rng(3), improper=improper))
    moved = frames @ rotation.T + torch.tensor([0.4, -1.0, 2.0], dtype=torch.float64)
    before, after = evaluate(model, frames), evaluate(model, moved)
    assert (before.energies[:, 1:] - before.energies[:, :-1]).min() > 0.05  # no degeneracy: signs are defined
    torch.testing.assert_close(after.energies.detach(), before.energies.detach(), rtol=0, atol=1e-10)
    torch.testing.assert_close(after.forces, before.forces @ rotation.T, rtol=0, atol=1e-10)
    for name in ("couplings", "coupling_vectors"):
        expected, got = getattr(before, name) @ rotation.T, getattr(after, name)
        # each state may change sign: per frame and pair, equal to + or - the rotated value
        error = sign_invariant_error(got, expected, torch.arange(3).repeat_interleave(3), 3)
        assert float(error.max()) < 1e-20
        assert float(getattr(before, name).abs().max()) > 1e-3


def test_couplings_change_sign_with_the_states_and_the_error_ignores_it(model, frames) -> None:
    out = evaluate(model, frames)
    batch = torch.arange(3).repeat_interleave(3)
    flipped = out.couplings.clone()
    flipped[:, batch == 1] *= -1  # frame 1's state signs changed
    assert float(sign_invariant_error(flipped, out.couplings, batch, 3).max()) == 0.0
    assert float((flipped - out.couplings).abs().max()) > 1e-3
    assert float(sign_invariant_error(flipped, 2 * out.couplings, batch, 3).min()) > 0.0


def test_forces_are_minus_the_gradient_of_each_adiabatic_energy(model, frames) -> None:
    positions = frames[:1]
    forces = evaluate(model, positions).forces  # [n_states, 3, 3]
    h = 1e-5
    numeric = torch.zeros_like(forces)
    for atom in range(3):
        for axis in range(3):
            plus, minus = positions.clone(), positions.clone()
            plus[0, atom, axis] += h
            minus[0, atom, axis] -= h
            difference = evaluate(model, plus).energies - evaluate(model, minus).energies
            numeric[:, atom, axis] = -difference[0].detach() / (2 * h)
    torch.testing.assert_close(forces, numeric, rtol=0, atol=1e-7)


def eigenvector_derivative_couplings(hamiltonian, positions: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """<i| d/dr |j> for pairs i < j from central differences of the eigenvectors (signs aligned
    to those at ``positions``), [n_pairs, 3, 3], for one frame ``positions`` [1, 3, 3]."""
    _, states = torch.linalg.eigh(hamiltonian(positions).detach())
    n = states.shape[-1]
    rows, cols = torch.triu_indices(n, n, offset=1)
    result = torch.zeros(len(rows), 3, 3, dtype=torch.float64)
    for atom in range(3):
        for axis in range(3):
            shifted = []
            for sign in (1, -1):
                moved = positions.clone()
                moved[0, atom, axis] += sign * h
                _, vectors = torch.linalg.eigh(hamiltonian(moved).detach())
                shifted.append(vectors * torch.sign((vectors * states).sum(1, keepdim=True)))
            derivative = (shifted[0] - shifted[1]) / (2 * h)  # [1, n, n]: column j is d|j>/dr
            result[:, atom, axis] = (states[0, :, rows] * derivative[0, :, cols]).sum(0)
    return result


def test_model_couplings_match_finite_differences_of_the_eigenvectors(model, frames) -> None:
    positions = frames[:1]
    out = evaluate(model, positions)

    def hamiltonian(p):
        graph = molecule_graphs(p, NUMBERS, model.cutoff)
        return model.hamiltonian(graph, graph.positions)

    numeric = eigenvector_derivative_couplings(hamiltonian, positions)
    aligned = out.couplings * torch.sign((out.couplings * numeric).sum((1, 2)))[:, None, None]
    torch.testing.assert_close(aligned, numeric, rtol=0, atol=1e-6)


def test_reference_couplings_and_forces_match_finite_differences(frames) -> None:
    positions = frames[1:2]
    states = REFERENCE.states(positions)
    numeric = eigenvector_derivative_couplings(REFERENCE.hamiltonian, positions)
    aligned = states.couplings * torch.sign((states.couplings * numeric).sum((1, 2)))[:, None, None]
    torch.testing.assert_close(aligned, numeric, rtol=0, atol=1e-6)
    h = 1e-6
    plus, minus = positions.clone(), positions.clone()
    plus[0, 2, 1] += h
    minus[0, 2, 1] -= h
    difference = REFERENCE.states(plus).energies - REFERENCE.states(minus).energies
    torch.testing.assert_close(states.forces[:, 2, 1], -difference[0].detach() / (2 * h), rtol=0, atol=1e-7)


def test_reference_has_a_conical_intersection_on_its_seam() -> None:
    d0 = torch.tensor(REFERENCE.distances, dtype=torch.float64)
    t = REFERENCE.intersection_tuning
    c = torch.tensor([0.0, 0.01, -0.02, 0.04], dtype=torch.float64)
    positions = triatomic_positions(d0[0] + t / 2 + 0 * c, d0[1] - t / 2 + 0 * c, d0[2] + c)
    states = REFERENCE.states(positions)
    gaps = (states.energies[:, 1] - states.energies[:, 0]).detach()
    # on the seam the gap opens linearly in the coupling coordinate: 2 * coupling * |c|
    torch.testing.assert_close(gaps, 2 * REFERENCE.coupling * c.abs(), rtol=0, atol=1e-12)
    # the coupling vector <1|dH/dr|2> stays finite while d_12 grows as 1 / gap (up to the
    # slow change of the distances' gradients with the geometry)
    norms = states.couplings[0, 3:].reshape(3, 9).norm(dim=-1)  # frames with c = 0.01, -0.02, 0.04
    torch.testing.assert_close(norms[0] * 0.01, norms[2] * 0.04, rtol=0.02, atol=0)


def test_a_short_fit_learns_the_vibronic_surfaces() -> None:
    torch.manual_seed(0)
    positions = sample_vibronic_frames(REFERENCE, 48, seed=2)
    target = REFERENCE.states(positions)
    graph = molecule_graphs(positions, NUMBERS, 4.0)
    backbone = EquivariantPotential(species=list(REFERENCE.symbols), cutoff=4.0, num_channels=8, lmax=1, num_layers=1,
                                    dtype=torch.float64)
    energies = target.energies.detach()
    model = DiabaticHamiltonianModel(backbone, element_scale=float(energies.std()), diagonal_shift=float(energies.mean()))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        out = model(graph, create_graph=True)
        return ((out.energies - energies).pow(2).mean() / energies.var()
                + (out.forces - target.forces).pow(2).mean() / target.forces.var())

    first = float(loss().detach())
    for _ in range(40):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert float(loss().detach()) < 0.3 * first


def test_bad_input_gets_a_clear_message(model) -> None:
    backbone = model.backbone
    with pytest.raises(ValueError, match="n_states must be at least 2 .coupled states., got 1"):
        DiabaticHamiltonianModel(backbone, n_states=1)
    with pytest.raises(ValueError, match=r"positions must be \[n_frames, 3, 3\] \(atoms A, B, C\); got \(2, 4, 3\)"):
        REFERENCE.hamiltonian(torch.zeros(2, 4, 3, dtype=torch.float64))
    positions = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="positions must require grad"):
        adiabatic_states(torch.eye(2, dtype=torch.float64)[None], positions, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"hamiltonian must be \[n_graphs, n, n\] with at least 2 states; got \(1, 2, 3\)"):
        adiabatic_states(torch.zeros(1, 2, 3), positions.requires_grad_(), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="the distances do not form a triangle"):
        triatomic_positions(*torch.tensor([[1.0], [1.0], [3.0]], dtype=torch.float64))
    from ase.build import bulk

    periodic = graph_from_atoms(bulk("C", "diamond", a=3.57), 4.0)
    with pytest.raises(ValueError, match="for molecules: give graphs without a cell"):
        model(periodic)
    with pytest.raises(ValueError, match=r"must both be \[n_pairs, n_atoms, 3\] with n_atoms = len\(batch\) = 3"):
        sign_invariant_error(torch.zeros(1, 3, 3), torch.zeros(1, 2, 3), torch.zeros(3, dtype=torch.long), 1)


def test_the_data_script_writes_the_reference_with_provenance(tmp_path, monkeypatch) -> None:
    output = tmp_path / "vibronic.npz"
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["generate_vibronic_model.py", "--n", "8", "--output", str(output)])
    runpy.run_path(str(ROOT / "scripts" / "generate_vibronic_model.py"), run_name="__main__")
    data = np.load(output)
    assert data["positions"].shape == (8, 3, 3) and data["forces"].shape == (8, 2, 3, 3)
    states = REFERENCE.states(torch.from_numpy(data["positions"]))
    np.testing.assert_allclose(data["energies"], states.energies.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(data["forces"][:, 1], states.forces[1].reshape(8, 3, 3).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.abs(data["couplings"]), np.abs(states.couplings[0].reshape(8, 3, 3).numpy()), atol=1e-10)
    assert (tmp_path / "vibronic.json").exists()
