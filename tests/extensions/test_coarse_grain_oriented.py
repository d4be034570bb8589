"""Oriented beads: the mapping's orientations and torques (covariance, torque = minus the
derivative of the all-atom energy under a rigid rotation of a molecule), the bead
potential (energy invariant, forces polar and torques axial under rotations and
reflections, translations, permutations, 1e-10 in float64; forces and torques against
finite differences), the force-and-torque loss (perpendicular projection, differentiable),
the Langevin integrator (|u| = 1, omega perpendicular to u, energy conserved without
friction, equipartition with it), pair correlations, bad input, the data and train scripts."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.lj import LennardJones
from e3nn import o3

from equipot.extensions.coarse_grain import molecular_liquid
from equipot.extensions.coarse_grain_dynamics import OrientedBeadLangevin, pair_correlations
from equipot.extensions.coarse_grain_oriented import (
    OrientedBeadMapping,
    OrientedBeadPotential,
    OrientedPairCoupling,
    force_torque_matching_loss,
    irreps_coupling,
    orientation_exponents,
    oriented_bead_derivatives,
    perpendicular,
)
from equipot.extensions.spin_lattice import rotate_about, lattice_edges
from equipot.testing.transforms import random_rotation

ROOT = Path(__file__).resolve().parents[2]
PBC = (True, True, True)


@pytest.fixture(scope="module")
def liquid():
    atoms = molecular_liquid(molecule("CH3OH"), 2, 0.79, seed=3)  # 8 methanol, 8.14 Å box
    atoms.rattle(0.02, seed=4)
    return atoms, OrientedBeadMapping.molecules(8, [[0, 1, 2, 3, 4, 5]], [1])  # u: centre of mass -> O


def test_orientations_point_from_the_centre_of_mass_to_the_oxygen_and_rotate_as_polar_vectors(liquid) -> None:
    atoms, mapping = liquid
    positions, masses, cell = atoms.get_positions(), atoms.get_masses(), np.asarray(atoms.cell)
    u = mapping.orientations(positions, masses, cell)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-12)
    centres = mapping.positions(positions, masses, cell)
    toward = positions[1] - centres[0]
    np.testing.assert_allclose(u[0], toward / np.linalg.norm(toward), atol=1e-12)
    forces = np.random.default_rng(0).normal(size=positions.shape)
    torques = mapping.torques(positions, forces, masses, cell)
    for improper in (False, True):  # u is polar (Q u), the torque axial (det Q  Q tau)
        q = random_rotation(np.random.default_rng(1), improper=improper)
        moved = positions @ q.T + [0.3, -1.0, 2.0]
        np.testing.assert_allclose(mapping.orientations(moved, masses, cell @ q.T), u @ q.T, atol=1e-12)
        np.testing.assert_allclose(mapping.torques(moved, forces @ q.T, masses, cell @ q.T),
                                   np.linalg.det(q) * torques @ q.T, atol=1e-10)
    inertia = mapping.moments_of_inertia(positions, masses, cell)
    assert np.all((inertia > 5.0) & (inertia < 40.0))  # methanol: about 20 amu Å^2 about axes across C-O


def test_moment_of_inertia_of_a_diatomic_across_its_axis_is_the_reduced_mass_times_r_squared() -> None:
    positions = np.array([[0.0, 0.0, 0.0], [0.6, 0.8, 0.0]]) * 1.2  # r = 1.2 Å
    masses = np.array([12.0, 16.0])
    mapping = OrientedBeadMapping([[0, 1]], [1])
    reduced = 12.0 * 16.0 / 28.0
    assert mapping.moments_of_inertia(positions, masses)[0] == pytest.approx(reduced * 1.2**2, rel=1e-12)
    np.testing.assert_allclose(mapping.orientations(positions, masses)[0], [0.6, 0.8, 0.0], atol=1e-12)


def test_mapped_torque_is_minus_the_energy_derivative_under_a_rigid_rotation_of_a_molecule(liquid) -> None:
    atoms, mapping = liquid
    atoms = atoms.copy()
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0, smooth=True)
    masses, cell = atoms.get_masses(), np.asarray(atoms.cell)
    torques = mapping.torques(atoms.get_positions(), atoms.get_forces(), masses, cell)
    assert np.abs(torques).max() > 1e-3
    bead, group = 2, mapping.groups[2]
    offsets = mapping.offsets(atoms.get_positions(), masses, cell)[group]
    centre = mapping.positions(atoms.get_positions(), masses, cell)[bead]
    h = 1e-5
    for axis in np.eye(3):
        energies = []
        for angle in (h, -h):
            moved = atoms.copy()
            moved.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0, smooth=True)
            rotated = rotate_about(torch.from_numpy(offsets), torch.from_numpy(np.tile(axis, (6, 1))),
                                    torch.full((6,), angle, dtype=torch.float64)).numpy()
            moved.positions[group] = centre + rotated
            energies.append(moved.get_potential_energy())
        assert torques[bead] @ axis == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=1e-5)


@pytest.fixture(scope="module")
def potential() -> OrientedBeadPotential:
    torch.manual_seed(0)
    return OrientedBeadPotential(cutoff=4.5, degree=2, hidden=8, energy_scale=0.1, repulsion_distance=2.5)


def beads(seed: int = 0, n: int = 6, length: float = 7.0):
    """``n`` beads on a jittered simple cubic grid (no pair closer than about 2 Å), random orientations."""
    generator = torch.Generator().manual_seed(seed)
    side = round(n ** (1 / 3) + 0.49)
    grid = torch.stack(torch.meshgrid(*[torch.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    positions = (grid + 0.5).to(torch.float64) * length / side
    positions = positions + 0.25 * length / side * (torch.rand(n, 3, generator=generator, dtype=torch.float64) - 0.5)
    orientations = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator, dtype=torch.float64), dim=-1)
    return positions, orientations, torch.eye(3, dtype=torch.float64) * length


@pytest.mark.parametrize("degree", [1, 2])
def test_the_invariants_span_the_same_functions_as_the_e3nn_coupling_of_the_irreps(degree) -> None:
    generator = torch.Generator().manual_seed(degree)
    r, u1, u2 = (torch.nn.functional.normalize(torch.randn(400, 3, generator=generator, dtype=torch.float64), dim=-1)
                 for _ in range(3))
    invariants = OrientedPairCoupling(3.0, degree).invariants(2.0 * r, u1, u2)
    assert invariants.shape[1] == len(orientation_exponents(degree)) == {1: 5, 2: 14}[degree]
    orientation, product, coupling = irreps_coupling(degree)
    assert coupling.weight_numel == invariants.shape[1]  # as many e3nn paths as invariants
    pair_sh = o3.SphericalHarmonics(coupling.irreps_in1, True, "component")
    paths = torch.stack([coupling(pair_sh(r), product(orientation(u1), orientation(u2)),
                                  torch.eye(coupling.weight_numel, dtype=torch.float64)[k].expand(400, -1))[:, 0]
                         for k in range(coupling.weight_numel)], dim=-1)
    solution = torch.linalg.lstsq(invariants, paths).solution  # every e3nn path is a combination of the invariants
    torch.testing.assert_close(invariants @ solution, paths, atol=1e-10, rtol=0)
    assert torch.linalg.matrix_rank(paths) == invariants.shape[1]  # and they span all of them


def derivatives(potential, positions, orientations, cell):
    edges = lattice_edges(positions, cell, PBC, potential.cutoff)
    return oriented_bead_derivatives(potential, positions, orientations, edges)


@pytest.mark.parametrize("improper", [False, True])
def test_energy_is_invariant_forces_polar_and_torques_axial(potential, improper) -> None:
    positions, orientations, cell = beads()
    energy, forces, torques = derivatives(potential, positions, orientations, cell)
    assert float(forces.abs().max()) > 1e-4 and float(torques.abs().max()) > 1e-4
    q = torch.from_numpy(random_rotation(np.random.default_rng(2), improper=improper))
    shift = torch.tensor([0.4, -2.0, 1.3], dtype=torch.float64)
    moved = derivatives(potential, positions @ q.T + shift, orientations @ q.T, cell @ q.T)
    assert float(moved[0].detach()) == pytest.approx(float(energy.detach()), abs=1e-10)
    torch.testing.assert_close(moved[1], forces @ q.T, atol=1e-10, rtol=0)
    torch.testing.assert_close(moved[2], torch.linalg.det(q) * torques @ q.T, atol=1e-10, rtol=0)
    permutation = torch.randperm(len(positions), generator=torch.Generator().manual_seed(3))
    permuted = derivatives(potential, positions[permutation], orientations[permutation], cell)
    assert float(permuted[0].detach()) == pytest.approx(float(energy.detach()), abs=1e-10)
    torch.testing.assert_close(permuted[1], forces[permutation], atol=1e-10, rtol=0)
    torch.testing.assert_close(permuted[2], torques[permutation], atol=1e-10, rtol=0)
    assert float((torques * orientations).sum(-1).abs().max()) < 1e-12


def test_forces_and_torques_match_finite_differences(potential) -> None:
    positions, orientations, cell = beads(seed=1)
    edges = lattice_edges(positions, cell, PBC, potential.cutoff)  # fixed pairs: no pair crosses the cutoff at h
    _, forces, torques = oriented_bead_derivatives(potential, positions, orientations, edges)
    h = 1e-6
    for bead in range(3):
        for axis in torch.eye(3, dtype=torch.float64):
            step = torch.zeros_like(positions)
            step[bead] = h * axis
            plus, minus = (float(potential(positions + s, orientations, edges).detach()) for s in (step, -step))
            assert float(forces[bead] @ axis) == pytest.approx(-(plus - minus) / (2 * h), rel=1e-6, abs=1e-9)
            rotated = [orientations.clone(), orientations.clone()]
            for k, angle in enumerate((h, -h)):
                rotated[k][bead] = rotate_about(orientations[bead:bead + 1], axis[None], torch.tensor([angle],
                                                                                                     dtype=torch.float64))[0]
            plus, minus = (float(potential(positions, u, edges).detach()) for u in rotated)
            assert float(torques[bead] @ axis) == pytest.approx(-(plus - minus) / (2 * h), rel=1e-6, abs=1e-9)


def test_the_loss_matches_only_the_perpendicular_torque_and_a_gradient_step_lowers_it(potential) -> None:
    positions, orientations, cell = beads(seed=2)
    edges = lattice_edges(positions, cell, PBC, potential.cutoff)
    generator = torch.Generator().manual_seed(5)
    forces, torques = (torch.randn(6, 3, generator=generator, dtype=torch.float64) for _ in range(2))
    loss = force_torque_matching_loss(potential, positions, orientations, edges, forces, torques)
    along_u = torques + 3.0 * orientations  # a component along u cannot be matched and does not count
    assert float(force_torque_matching_loss(potential, positions, orientations, edges, forces, along_u).detach()) == (
        pytest.approx(float(loss.detach()), rel=1e-12))
    torch.testing.assert_close(perpendicular(along_u, orientations), perpendicular(torques, orientations))
    model = OrientedBeadPotential(cutoff=4.5, degree=1, hidden=8, energy_scale=0.1)
    loss = force_torque_matching_loss(model, positions, orientations, edges, forces, torques, torque_weight=2.0)
    loss.backward()
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))
    assert float(norm) > 0
    with torch.no_grad():
        for parameter in model.parameters():
            parameter -= 1e-3 * parameter.grad / norm
    lowered = force_torque_matching_loss(model, positions, orientations, edges, forces, torques, 2.0)
    assert float(lowered.detach()) < float(loss.detach())


def test_langevin_keeps_unit_orientations_and_without_friction_conserves_energy_to_second_order(potential) -> None:
    positions, orientations, cell = beads(seed=4, n=8, length=7.0)
    masses, inertia = torch.full((8,), 32.0, dtype=torch.float64), torch.full((8,), 20.0, dtype=torch.float64)
    drifts = {}
    for dt in (4.0, 2.0):  # 100 fs each
        dynamics = OrientedBeadLangevin(potential, positions, orientations, masses, inertia, cell, potential.cutoff,
                                        temperature=300.0, dt=dt, friction=0.0, seed=1)
        start, potential_start = dynamics.total_energy(), dynamics.potential_energy
        drift, exchanged = 0.0, 0.0
        for _ in range(round(100 / dt)):
            dynamics.step()
            drift = max(drift, abs(dynamics.total_energy() - start))
            exchanged = max(exchanged, abs(dynamics.potential_energy - potential_start))
        drifts[dt] = drift
        torch.testing.assert_close(dynamics.orientations.norm(dim=-1), torch.ones(8, dtype=torch.float64))
        assert float((dynamics.angular_velocities * dynamics.orientations).sum(-1).abs().max()) < 1e-12
        assert min(dynamics.kinetic_energies()) > 0.01
        assert drift < 1e-3 * exchanged  # potential energy is exchanged with kinetic, the total is kept
    assert 2.5 < drifts[4.0] / drifts[2.0] < 6.0  # error falls as dt^2


class Free(torch.nn.Module):
    def forward(self, positions, orientations, edges):
        return (positions * 0).sum() + (orientations * 0).sum()


def test_langevin_thermostat_gives_equipartition_in_translation_and_rotation() -> None:
    positions, orientations, cell = beads(seed=5, n=200, length=30.0)
    masses, inertia = torch.full((200,), 32.0, dtype=torch.float64), torch.full((200,), 20.0, dtype=torch.float64)
    dynamics = OrientedBeadLangevin(Free(), positions, orientations, masses, inertia, cell, 2.0,
                                    temperature=300.0, dt=2.0, friction=0.05, seed=2)
    samples = []
    for _ in range(60):
        dynamics.run(5)
        samples.append(dynamics.temperatures())
    translational, rotational = np.mean(samples[10:], axis=0)
    assert translational == pytest.approx(300.0, rel=0.05)
    assert rotational == pytest.approx(300.0, rel=0.05)


def test_pair_correlations_of_an_aligned_simple_cubic_lattice() -> None:
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) * 3.0
    u = np.tile([0.0, 0.0, 1.0], (27, 1))
    result = pair_correlations(grid[None], u[None], np.eye(3) * 9.0, rmax=4.0, bins=8)
    density = 27 / 9.0**3
    shell = np.diff(4 / 3 * np.pi * np.linspace(0, 4.0, 9) ** 3)
    neighbours = (result["g"] * density * shell).sum()
    assert neighbours == pytest.approx(6.0)  # six neighbours at 3 Å, none closer than 4 Å otherwise
    occupied = result["g"] > 0
    np.testing.assert_allclose(result["p1"][occupied], 1.0)
    np.testing.assert_allclose(result["p2"][occupied], 1.0)
    assert np.isnan(result["p2"][~occupied]).all()


def test_bad_input_gets_a_clear_message(potential) -> None:
    with pytest.raises(ValueError, match="orientation_atoms must name one atom of each group"):
        OrientedBeadMapping([[0, 1], [2, 3]], [0, 1])
    with pytest.raises(ValueError, match=r"forces must be \[2, 3\] for this mapping"):
        OrientedBeadMapping([[0, 1]], [1]).torques(np.zeros((2, 3)), np.zeros((3, 3)), np.ones(2))
    positions, orientations, cell = beads()
    edges = lattice_edges(positions, cell, PBC, potential.cutoff)
    with pytest.raises(ValueError, match=r"positions and orientations must both be \[n_beads, 3\]; got \(6, 3\) and \(5, 3\)"):
        potential(positions, orientations[:5], edges)
    with pytest.raises(ValueError, match="masses and inertia must be positive"):
        OrientedBeadLangevin(potential, positions, orientations, torch.ones(6, dtype=torch.float64),
                             torch.zeros(6, dtype=torch.float64), cell, 4.5, 300.0)
    with pytest.raises(ValueError, match="degree must be at least 0, got -1"):
        OrientedPairCoupling(4.0, degree=-1)
    with pytest.raises(ValueError, match="could not place 8 molecules"):
        molecular_liquid(molecule("CH3OH"), 2, 5.0, max_tries=10)


def test_the_data_and_train_scripts_run_end_to_end(tmp_path, monkeypatch) -> None:
    data = tmp_path / "methanol.npz"
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["generate_cg_methanol.py", "--per-side", "1", "--density", "0.5",
                                      "--equilibration", "1", "--interval", "1", "--frames", "6", "--output", str(data)])
    runpy.run_path(str(ROOT / "scripts" / "generate_cg_methanol.py"), run_name="__main__")
    stored = np.load(data)
    assert stored["positions"].shape == (6, 6, 3) and stored["forces"].shape == (6, 6, 3)
    assert (tmp_path / "methanol.json").exists()
    figure = tmp_path / "cg.png"
    monkeypatch.setattr(sys, "argv", ["train_cg_methanol.py", "--data", str(data), "--steps", "2", "--md-steps", "4",
                                      "--equilibration", "2", "--cutoff", "5.0", "--rmax", "3.0", "--figure", str(figure),
                                      "--table", str(tmp_path / "table.json")])
    runpy.run_path(str(ROOT / "scripts" / "train_cg_methanol.py"), run_name="__main__")
    assert figure.exists() and (tmp_path / "table.json").exists()
