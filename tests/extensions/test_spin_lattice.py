"""Spin-lattice model: energy invariant under joint rotations of space and moments and
under time reversal, forces and fields transforming as they should (1e-10, float64),
derivatives against finite differences, the reference's ferro- and antiferromagnetic
ground states, spin-lattice dynamics conserving |m| and energy, bad input, data script."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from equipot.extensions.spin_lattice import (
    HeisenbergLatticeReference,
    SpinLatticeDynamics,
    SpinLatticePotential,
    lattice_edges,
    ordered_moments,
    simple_cubic,
    spin_lattice_derivatives,
)
from equipot.testing.transforms import random_rotation

ROOT = Path(__file__).resolve().parents[2]
PBC = (True, True, True)


@pytest.fixture(scope="module")
def model() -> SpinLatticePotential:
    torch.manual_seed(0)
    return SpinLatticePotential(cutoff=3.0, hidden=8, energy_scale=0.1)


def configuration(seed: int = 0, repeats: int = 2):
    generator = torch.Generator().manual_seed(seed)
    positions, cell = simple_cubic(repeats, 2.6)
    positions = positions + 0.1 * torch.randn(positions.shape, generator=generator, dtype=torch.float64)
    moments = torch.randn(positions.shape, generator=generator, dtype=torch.float64)
    return positions, moments / moments.norm(dim=-1, keepdim=True), cell


def evaluate(model, positions, moments, cell):
    edges = lattice_edges(positions, cell, PBC, model.cutoff)
    return spin_lattice_derivatives(model, positions, moments, edges)


@pytest.mark.parametrize("improper", [False, True])
def test_joint_rotation_of_space_and_moments(model, improper) -> None:
    positions, moments, cell = configuration(1)
    R = torch.as_tensor(random_rotation(np.random.default_rng(5), improper=improper))
    det = float(torch.linalg.det(R))
    energy, forces, fields = evaluate(model, positions, moments, cell)
    # axial moments: m -> det(R) R m; fields -dE/dm are axial too, forces polar
    energy2, forces2, fields2 = evaluate(model, positions @ R.T, det * moments @ R.T, cell @ R.T)
    assert abs(float(energy2 - energy)) < 1e-10 * abs(float(energy))
    assert torch.allclose(forces2, forces @ R.T, atol=1e-10)
    assert torch.allclose(fields2, det * fields @ R.T, atol=1e-10)


def test_time_reversal_keeps_energy_and_forces_and_flips_fields(model) -> None:
    positions, moments, cell = configuration(2)
    energy, forces, fields = evaluate(model, positions, moments, cell)
    energy2, forces2, fields2 = evaluate(model, positions, -moments, cell)
    assert abs(float(energy2 - energy)) < 1e-10 * abs(float(energy))
    assert torch.allclose(forces2, forces, atol=1e-10)
    assert torch.allclose(fields2, -fields, atol=1e-10)


def test_rotating_the_moments_alone_changes_the_energy(model) -> None:
    positions, moments, cell = configuration(3)
    R = torch.as_tensor(random_rotation(np.random.default_rng(6)))
    energy = evaluate(model, positions, moments, cell)[0]
    assert abs(float(evaluate(model, positions, moments @ R.T, cell)[0] - energy)) > 1e-6


def test_forces_and_fields_match_finite_differences(model) -> None:
    positions, moments, cell = configuration(4)
    edges = lattice_edges(positions, cell, PBC, model.cutoff)
    _, forces, fields = spin_lattice_derivatives(model, positions, moments, edges)
    h = 1e-5
    for atom, k in [(0, 0), (3, 2), (5, 1)]:
        step = torch.zeros_like(positions)
        step[atom, k] = h
        with torch.no_grad():
            d_r = (model(positions + step, moments, edges) - model(positions - step, moments, edges)) / (2 * h)
            d_m = (model(positions, moments + step, edges) - model(positions, moments - step, edges)) / (2 * h)
        assert abs(float(-d_r - forces[atom, k])) < 1e-8
        assert abs(float(-d_m - fields[atom, k])) < 1e-8


@pytest.mark.parametrize(("exchange", "ground"), [(0.02, "ferro"), (-0.02, "antiferro")])
def test_the_reference_orders_as_its_exchange_says(exchange, ground) -> None:
    reference = HeisenbergLatticeReference(exchange=exchange)
    positions, cell = simple_cubic(2, 2.6)
    edges = lattice_edges(positions, cell, PBC, reference.cutoff)
    energies = {o: float(reference(positions, ordered_moments(positions, 2.6, o), edges)) for o in ("ferro", "antiferro")}
    assert min(energies, key=energies.get) == ground
    # the reference is time-reversal invariant too
    m = ordered_moments(positions, 2.6, "ferro")
    assert float(reference(positions, -m, edges)) == pytest.approx(float(reference(positions, m, edges)), abs=1e-12)


def test_dynamics_units_agree_with_ase() -> None:
    from ase import units

    from equipot.extensions.spin_lattice import FORCE_TO_ACCELERATION, HBAR, VELOCITY_TO_ENERGY

    # 1 eV/Å on 1 amu for 1 fs gives 1 fs * FORCE_TO_ACCELERATION Å/fs; ASE's own units agree
    assert FORCE_TO_ACCELERATION == pytest.approx(units.fs**2 * 1.0, rel=1e-9)
    assert VELOCITY_TO_ENERGY == pytest.approx(1 / units.fs**2, rel=1e-9)
    assert HBAR == pytest.approx(units._hbar / units._e * 1e15, rel=1e-12)


def test_spin_lattice_dynamics_keeps_unit_moments_and_conserves_energy() -> None:
    reference = HeisenbergLatticeReference()
    positions, moments, cell = configuration(5)
    dynamics = SpinLatticeDynamics(reference, positions, moments, torch.full((8,), 55.845), cell, PBC,
                                   reference.cutoff, dt=1.0)
    start_moments = dynamics.moments.clone()
    totals = dynamics.run(20)
    assert torch.allclose(dynamics.moments.norm(dim=-1), torch.ones(8, dtype=torch.float64), atol=1e-12)
    assert not torch.allclose(dynamics.moments, start_moments, atol=1e-3)  # they did precess
    assert dynamics.kinetic_energy() > 1e-4  # and the atoms moved
    assert max(totals) - min(totals) < 1e-4  # eV, against ~0.1 eV exchanged between terms


def test_bad_input_gets_a_clear_message(model) -> None:
    positions, moments, cell = configuration(6)
    edges = lattice_edges(positions, cell, PBC, model.cutoff)
    with pytest.raises(ValueError, match=r"positions and moments must both be \[n_atoms, 3\]; got \(8, 3\) and \(8, 2\)"):
        model(positions, moments[:, :2], edges)
    with pytest.raises(ValueError, match="order must be 'ferro' or 'antiferro'"):
        ordered_moments(positions, 2.6, "ferri")


def test_the_data_script_labels_frames_with_the_reference(tmp_path, monkeypatch) -> None:
    output = tmp_path / "afm.npz"
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["generate_spin_lattice.py", "--order", "antiferro", "--frames", "4",
                                      "--repeats", "2", "--output", str(output)])
    runpy.run_path(str(ROOT / "scripts" / "generate_spin_lattice.py"), run_name="__main__")
    data = {k: torch.from_numpy(v) for k, v in np.load(output).items()}
    reference = HeisenbergLatticeReference(exchange=-0.02)
    edges = lattice_edges(data["positions"][1], data["cells"][1], PBC, reference.cutoff)
    energy, forces, fields = spin_lattice_derivatives(reference, data["positions"][1], data["moments"][1], edges)
    assert float(energy) == pytest.approx(float(data["energy"][1]), rel=1e-12)
    assert torch.allclose(fields, data["fields"][1]) and torch.allclose(forces, data["forces"][1])
