"""NVE dynamics conserve energy: EMT on fcc Cu as the physical reference, and an
untrained float64 equipot model through `EquipotCalculator`.

Measured on the development machine (torch 2.13 CPU, ASE 3.29), Cu 2x2x2 cubic cell,
32 atoms, 300 K initial temperature, seeds 0-3:

- EMT, dt = 1 fs, 200 steps: drift 1.5e-6 to 4.2e-6 eV/atom/ps, fluctuation (std of the
  total energy per atom) 1.6e-6 to 2.9e-6 eV/atom; bounds below are about 10x those.
- Velocity Verlet's energy error grows as dt^2: fluctuation(2 fs) / fluctuation(1 fs)
  over the same 200 fs was 4.08-4.12.
- Untrained equipot model (float64, 4 channels, scale 10, torch seeds 0-2), rattled Cu,
  dt = 1 fs, 20 steps: largest deviation of the total energy 1.6e-7 to 1.2e-6 eV/atom
  (seed 0: 1.6e-7) while the potential energy changed by 0.013-0.22 eV; the deviation
  over the potential-energy range was 1.7e-4 to 3.8e-4.
"""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from equipot import EquipotCalculator, EquivariantPotential
from equipot.simulate import MDResult, run_nve

EMT_DRIFT_BOUND = 5e-5  # eV/atom/ps
EMT_FLUCTUATION_BOUND = 3e-5  # eV/atom
MODEL_DEVIATION_BOUND = 1.5e-6  # eV/atom
MODEL_RELATIVE_BOUND = 5e-3  # max |E_total - E_total(0)| / range of E_potential


def _cu32() -> Atoms:
    return bulk("Cu", cubic=True, a=3.61).repeat(2)


@pytest.fixture(scope="module")
def emt_run(tmp_path_factory) -> MDResult:
    trajectory = tmp_path_factory.mktemp("md") / "nve.xyz"
    return run_nve(_cu32(), EMT(), steps=200, timestep_fs=1.0, temperature_K=300.0, seed=0,
                   trajectory=trajectory, log_every=10, progress=False)


def test_emt_nve_conserves_energy(emt_run) -> None:
    result = emt_run
    assert result.n_atoms == 32 and result.steps == 200
    np.testing.assert_allclose(result.times_fs, np.arange(0.0, 201.0, 10.0))
    assert abs(result.drift_per_atom_per_ps) < EMT_DRIFT_BOUND
    assert result.fluctuation_per_atom < EMT_FLUCTUATION_BOUND
    # the run is not trivial: energy flows between kinetic and potential (equipartition
    # from a perfect lattice halves the temperature)
    assert np.ptp(result.kinetic_energy) / result.n_atoms > 100 * result.fluctuation_per_atom
    assert 300.0 > result.temperature_K[-5:].mean() > 60.0
    assert result.temperature_K[0] == pytest.approx(300.0, rel=0.4)


def test_energy_error_scales_with_the_square_of_the_time_step(emt_run) -> None:
    coarse = run_nve(_cu32(), EMT(), steps=100, timestep_fs=2.0, temperature_K=300.0, seed=0,
                     log_every=5, progress=False)
    ratio = coarse.fluctuation_per_atom / emt_run.fluctuation_per_atom
    assert 3.0 < ratio < 5.5, ratio


def test_extxyz_trajectory_holds_the_recorded_frames(emt_run) -> None:
    frames = ase.io.read(emt_run.trajectory, index=":")
    assert len(frames) == len(emt_run.times_fs) == 21
    energies = [frame.get_potential_energy() for frame in frames]
    np.testing.assert_allclose(energies, emt_run.potential_energy, rtol=0, atol=1e-8)
    np.testing.assert_allclose(frames[-1].get_kinetic_energy(), emt_run.kinetic_energy[-1], rtol=1e-6)


def test_untrained_float64_model_conserves_energy(tmp_path) -> None:
    torch.manual_seed(0)
    model = EquivariantPotential(species=["Cu"], cutoff=3.0, num_channels=4, lmax=1, hidden_lmax=1,
                                 num_layers=2, correlation=2, dtype=torch.float64)
    model.set_normalization(scale=0.2)  # exchanges ~0.13 eV over the run (the default scale 1 gives
    # forces so strong that 1 fs steps lose the 1.5e-6 eV/atom bound)
    atoms = _cu32()
    atoms.rattle(0.05, seed=1)
    result = run_nve(atoms, EquipotCalculator(model), steps=20, timestep_fs=1.0, temperature_K=300.0,
                     log_every=1, trajectory=tmp_path / "model.traj", progress=False)
    assert len(result.total_energy) == 21
    exchanged = np.ptp(result.potential_energy)
    assert exchanged > 5e-3  # eV: the model's forces do work
    assert result.max_deviation_per_atom < MODEL_DEVIATION_BOUND
    assert result.max_deviation_per_atom * result.n_atoms < MODEL_RELATIVE_BOUND * exchanged
    assert len(ase.io.read(tmp_path / "model.traj", index=":")) == 21


def test_free_molecule_starts_without_momentum_or_rotation(tmp_path) -> None:
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.2, 1.2, 2.1]], pbc=False)
    result = run_nve(cluster, EMT(), steps=1, timestep_fs=1.0, temperature_K=500.0, seed=3,
                     log_every=1, trajectory=tmp_path / "cluster.xyz", progress=False)
    start = ase.io.read(tmp_path / "cluster.xyz", index=0)  # momenta as drawn, before any step
    assert np.abs(start.get_momenta()).max() > 0.1  # amu Å/(ASE time); extxyz keeps 8 decimals
    np.testing.assert_allclose(start.get_momenta().sum(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(start.get_angular_momentum(), 0.0, atol=1e-6)
    assert result.temperature_K[0] == pytest.approx(start.get_temperature(), rel=1e-6)
    # a periodic crystal keeps its rotation-like modes: only the total momentum is removed
    crystal = run_nve(_cu32(), EMT(), steps=1, temperature_K=300.0, trajectory=tmp_path / "crystal.xyz",
                      log_every=1, progress=False)
    assert crystal.n_atoms == 32
    first = ase.io.read(tmp_path / "crystal.xyz", index=0)
    np.testing.assert_allclose(first.get_momenta().sum(axis=0), 0.0, atol=1e-6)
    assert np.linalg.norm(first.get_angular_momentum()) > 1e-2


def test_a_lone_atom_stays_at_rest() -> None:
    result = run_nve(bulk("Cu"), EMT(), steps=3, temperature_K=300.0, log_every=1, progress=False)
    np.testing.assert_allclose(result.kinetic_energy, 0.0, atol=1e-20)
    assert np.isfinite(result.total_energy).all()


def test_same_seed_same_run_and_result_to_dict_is_json() -> None:
    first = run_nve(_cu32(), EMT(), steps=10, timestep_fs=1.0, seed=5, log_every=5, progress=False)
    second = run_nve(_cu32(), EMT(), steps=10, timestep_fs=1.0, seed=5, log_every=5, progress=False)
    other = run_nve(_cu32(), EMT(), steps=10, timestep_fs=1.0, seed=6, log_every=5, progress=False)
    np.testing.assert_array_equal(first.total_energy, second.total_energy)
    assert not np.allclose(first.kinetic_energy, other.kinetic_energy)
    data = json.loads(json.dumps(first.to_dict()))
    assert data["steps"] == 10 and data["duration_fs"] == 10.0 and len(data["total_energy"]) == 3
    assert data["drift_per_atom_per_ps"] == pytest.approx(first.drift_per_atom_per_ps)


def test_log_csv(tmp_path, emt_run) -> None:
    path = emt_run.write_csv(tmp_path / "md.csv")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (21, 5)
    np.testing.assert_allclose(table[:, 3], emt_run.total_energy, rtol=1e-9)


def test_progress_bar_on_a_terminal(monkeypatch, capsys) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich >= 14 then treats stdout as a terminal
    from rich.console import Console

    if not Console().is_terminal:
        pytest.skip("this rich version ignores TTY_COMPATIBLE")
    result = run_nve(bulk("Cu", cubic=True), EMT(), steps=12, log_every=4, progress=True)
    assert len(result.times_fs) == 4
    assert "NVE" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be at least 1"),
        ({"timestep_fs": 0.0}, "timestep_fs must be positive"),
        ({"log_every": 0}, "log_every must be at least 1"),
        ({"temperature_K": -1.0}, "temperature_K must be >= 0"),
        ({"trajectory": "out.pdb"}, r"must end in one of \('.traj', '.xyz', '.extxyz'\)"),
        ({"calculator": None}, "no calculator given"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message) -> None:
    arguments = {"atoms": bulk("Cu"), "calculator": EMT(), "steps": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        run_nve(**arguments, progress=False)
