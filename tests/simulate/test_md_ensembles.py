"""NVT and NPT through `run_md`, checked against EMT's own physics on fcc Cu (32 atoms).

Measured on the development machine (ASE 3.29, 2-core shared CPU), dt = 2 fs:

- NVT Langevin, 0.05/fs, from rest (0 K) to 300 K, 400 steps: mean temperature over the
  last 600 fs 291, 297, 295, 302, 283, 301 K for seeds 0-5 (mean 295, std 6 K; with
  0.02/fs the std was 11 K). 32 atoms: the instantaneous T fluctuates by sqrt(2/(3N)) = 14 %.
- NVT Nose-Hoover chain, 600 K, tdamp 50 fs, 100 steps: total energy swings by 2.8 eV,
  the conserved quantity by 3.5 meV.
- NPT, EMT a0 = 3.5898 Å (Birch-Murnaghan fit of E(V)), B = 134 GPa:
  MTK isotropic at 5 GPa from a0, 50 K, pdamp 500 fs, 200 steps: mean a over the last
  half 3.5515 Å, 0.08 % above a(5 GPa) = 3.5488 Å (from EMT's stress), mean pressure
  5.06 GPa;
  Langevin barostat at 0 GPa from a 2 % stretched cell, 50 K, P_tau 200 fs, 300 steps:
  mean a over the last half 3.5942 Å, 0.12 % above a0 (thermal expansion at 50 K is
  about 0.1 %), mean pressure -0.05 GPa (it started at -7.0 GPa); the last third swings
  by 1.0 % of a0.
"""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc100, molecule
from ase.calculators.emt import EMT

from equipot.simulate import EnsembleSettings, MDResult, plot_md, run_md


def _cu32(a: float = 3.59) -> Atoms:
    return bulk("Cu", cubic=True, a=a).repeat(2)


def _lattice(result: MDResult) -> np.ndarray:
    assert result.volume_A3 is not None
    return (result.volume_A3 / 8.0) ** (1.0 / 3.0)  # 2x2x2 conventional cells


def test_langevin_nvt_heats_a_crystal_to_the_target_temperature(tmp_path) -> None:
    settings = EnsembleSettings("nvt", timestep_fs=2.0, temperature_K=300.0, friction_per_fs=0.05, seed=0)
    result = run_md(_cu32(), EMT(), settings, steps=400, initial_temperature_K=0.0, log_every=2,
                    log_file=tmp_path / "nvt.csv", progress=False)
    assert result.temperature_K[0] == 0.0
    assert result.mean_over_last("temperature_K", 0.75) == pytest.approx(300.0, rel=0.1)
    assert result.integrator == "ase.md.langevin.Langevin"
    assert result.target_temperature_K == 300.0 and result.volume_A3 is None
    table = np.loadtxt(tmp_path / "nvt.csv", delimiter=",", skiprows=1)
    assert table.shape == (201, 5)
    np.testing.assert_allclose(table[:, 4], result.temperature_K, rtol=1e-8)
    np.testing.assert_allclose(table[:, 3], table[:, 1] + table[:, 2], rtol=1e-8, atol=1e-8)


def test_nose_hoover_nvt_conserves_its_extended_energy() -> None:
    settings = EnsembleSettings("nvt", timestep_fs=2.0, temperature_K=600.0, thermostat="nose-hoover", tdamp_fs=50.0,
                                seed=1)
    result = run_md(_cu32(), EMT(), settings, steps=100, log_every=2, progress=False)
    assert result.conserved_energy is not None
    exchanged = np.ptp(result.total_energy)  # the thermostat pumps energy in and out
    assert exchanged > 0.1
    assert np.ptp(result.conserved_energy) < 0.02 * exchanged


def test_mtk_npt_reaches_emt_lattice_constant_under_pressure(emt_cu_equilibrium, tmp_path) -> None:
    target = emt_cu_equilibrium["a_5GPa"]
    settings = EnsembleSettings("npt", timestep_fs=2.0, temperature_K=50.0, pressure_GPa=5.0, pdamp_fs=500.0, seed=0)
    result = run_md(_cu32(emt_cu_equilibrium["a0"]), EMT(), settings, steps=200, log_every=2,
                    log_file=tmp_path / "npt.csv", trajectory=tmp_path / "npt.xyz", progress=False)
    assert result.integrator == "ase.md.nose_hoover_chain.IsotropicMTKNPT"
    start = _lattice(result)[0] / target - 1.0
    assert start > 0.01  # begins 1.2 % too large
    assert abs(result.mean_over_last("volume_A3") ** (1 / 3) / 2.0 / target - 1.0) < 0.003
    assert result.mean_over_last("pressure_GPa") == pytest.approx(5.0, abs=1.0)
    header = (tmp_path / "npt.csv").read_text().splitlines()[0].split(",")
    assert header[5:] == ["volume_A3", "pressure_GPa", "conserved_eV"]
    frames = ase.io.read(tmp_path / "npt.xyz", index=":")
    np.testing.assert_allclose([frame.get_volume() for frame in frames], result.volume_A3, rtol=1e-7)


def test_langevin_barostat_relaxes_a_stretched_cell_to_emt_equilibrium(emt_cu_equilibrium, tmp_path) -> None:
    a0 = emt_cu_equilibrium["a0"]
    settings = EnsembleSettings("npt", timestep_fs=2.0, temperature_K=50.0, barostat="langevin", pdamp_fs=200.0,
                                friction_per_fs=0.02, seed=0)
    result = run_md(_cu32(1.02 * a0), EMT(), settings, steps=300, log_every=2, progress=False)
    assert result.integrator == "ase.md.langevinbaoab.LangevinBAOAB"
    assert result.pressure_GPa is not None and result.pressure_GPa[0] < -5.0
    lattice = _lattice(result)
    assert abs(np.mean(lattice[len(lattice) // 2:]) / a0 - 1.0) < 0.003
    assert abs(result.mean_over_last("pressure_GPa")) < 1.0
    # damped: the last third swings less than a third of the initial 2 % misfit
    assert np.ptp(lattice[-len(lattice) // 3:]) / a0 < 0.02 * 2 / 3
    png = plot_md(result, tmp_path / "npt.png")
    assert png.stat().st_size > 10_000


def test_anisotropic_barostat_changes_the_cell_shape(emt_cu_equilibrium) -> None:
    ratios = {}
    for anisotropic in (False, True):
        atoms = _cu32(emt_cu_equilibrium["a0"])
        atoms.set_cell(atoms.cell.array * [[1.02], [1.0], [1.0]], scale_atoms=True)  # stretch x by 2 %
        settings = EnsembleSettings("npt", timestep_fs=2.0, temperature_K=50.0, anisotropic=anisotropic, pdamp_fs=500.0)
        run_md(atoms, EMT(), settings, steps=20, log_every=10, progress=False)
        lengths = atoms.cell.lengths()
        ratios[anisotropic] = lengths[0] / lengths[1]
    assert ratios[False] == pytest.approx(1.02, abs=1e-9)  # isotropic: the shape is kept
    assert abs(ratios[True] - 1.02) > 0.003  # MTKNPT: x relaxes against y and z


def _zero_cell():
    atoms = _cu32()
    atoms.set_cell(np.zeros((3, 3)))
    return atoms


def _nan_atom():
    atoms = molecule("H2O")
    atoms.positions[1, 0] = np.nan
    return atoms


@pytest.mark.parametrize(
    ("atoms", "kwargs", "message"),
    [
        (molecule("H2O"), {"ensemble": "npt"}, r"NPT needs a periodic structure with a 3D cell.*pbc=\[False"),
        (fcc100("Cu", (2, 2, 2), vacuum=5.0), {"ensemble": "npt"}, r"pbc=\[True, True, False\]"),
        (_zero_cell(), {"ensemble": "npt"}, r"^run_md: the cell has zero volume \(det = 0 Å³\) but pbc"),
        (_nan_atom(), {"ensemble": "nve"}, r"^run_md: positions of atoms \[1\] are NaN"),  # was "Eigenvalues did not converge"
        (_cu32(), {"ensemble": "nvt", "temperature_K": None}, "temperature_K .the NVT target. must be a positive"),
        (_cu32(), {"ensemble": "nvt", "friction_per_fs": 0.0}, "friction_per_fs must be a positive"),
        (_cu32(), {"ensemble": "nvt", "thermostat": "berendsen"}, "thermostat must be one of"),
        (_cu32(), {"ensemble": "npt", "barostat": "berendsen"}, "barostat must be one of"),
        (_cu32(), {"ensemble": "nph"}, r"ensemble must be one of \('nve', 'nvt', 'npt'\)"),
        (_cu32(), {"ensemble": "npt", "pdamp_fs": -1.0}, "pdamp_fs must be a positive"),
    ],
)
def test_bad_settings_are_refused_before_the_run(atoms, kwargs, message) -> None:
    before = atoms.get_positions().copy()
    with pytest.raises(ValueError, match=message):
        run_md(atoms, EMT(), EnsembleSettings(**kwargs), steps=5, progress=False)
    np.testing.assert_array_equal(atoms.get_positions(), before)
    assert not atoms.has("momenta")  # nothing was drawn


def test_run_nve_is_run_md_with_nve(tmp_path) -> None:
    from equipot.simulate import run_nve

    first = run_nve(_cu32(), EMT(), steps=10, timestep_fs=1.0, seed=2, log_every=5, progress=False,
                    log_file=tmp_path / "nve.csv")
    settings = EnsembleSettings("nve", timestep_fs=1.0, temperature_K=300.0, seed=2)
    second = run_md(_cu32(), EMT(), settings, steps=10, log_every=5, progress=False)
    np.testing.assert_array_equal(first.total_energy, second.total_energy)
    assert first.integrator == "ase.md.verlet.VelocityVerlet" and first.target_temperature_K is None
    table = np.loadtxt(tmp_path / "nve.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 3], first.total_energy, rtol=1e-9)
    langevin = run_md(_cu32(), EMT(), EnsembleSettings("nvt"), steps=2, log_every=1, progress=False)
    assert np.isnan(langevin.conserved_drift_per_atom_per_ps)  # Langevin conserves nothing


def test_settings_are_one_frozen_object_checked_where_used() -> None:
    """A setting the chosen integrator does not use is not checked (a Nose-Hoover NVT run
    has no friction), and settings cannot change under a run."""
    import dataclasses

    settings = EnsembleSettings("nvt", thermostat="nose-hoover", friction_per_fs=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.temperature_K = 10.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="EnsembleSettings: tdamp_fs must be a positive number, got 0.0"):
        EnsembleSettings("npt", tdamp_fs=0.0)  # the MTK barostat's thermostat
