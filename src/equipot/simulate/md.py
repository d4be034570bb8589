"""Molecular dynamics through ASE: NVE, NVT and NPT runs with energy bookkeeping.

`run_md` runs any ensemble (the integrators are listed in `equipot.simulate.ensembles`);
`run_nve` is its microcanonical special case. Units are ASE's: energies in eV, time in fs
(converted with ``ase.units.fs``), temperature in K, volume in Å³, pressure in GPa. Any ASE
calculator works, `equipot.EquipotCalculator` included; for energy conservation tests run
the model in float64.

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> atoms = bulk("Cu", cubic=True).repeat(2)
    >>> result = run_nve(atoms, EMT(), steps=20, timestep_fs=1.0, progress=False)
    >>> float(result.times_fs[-1]), len(result.total_energy)
    (20.0, 3)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator
from ase.md import velocitydistribution
from ase.md.md import MolecularDynamics
from ase.md.velocitydistribution import Stationary, ZeroRotation

from ..data import check_structure
from ._output import TRAJECTORY_SUFFIXES, CsvLog, MDResult, progress_bar, trajectory_writer
from .ensembles import EnsembleSettings, integrator_name, make_dynamics, resolve_timestep

__all__ = ["EnsembleSettings", "MDResult", "run_md", "run_nve"]


def _initial_velocities(atoms: Atoms, temperature_K: float | None, seed: int) -> None:
    if temperature_K is None:
        return  # keep the momenta the atoms already have
    if temperature_K == 0 or len(atoms) == 1:  # a lone atom: removing the drift leaves no motion
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        return
    rng = np.random.default_rng(seed)
    velocitydistribution.thermalize_momenta(atoms, temperature_K, rng=rng)
    Stationary(atoms)  # zero total momentum; the temperature is rescaled back
    if not atoms.pbc.any():
        ZeroRotation(atoms)  # a free molecule: no overall rotation either


def _check_arguments(steps: int, log_every: int, initial_K: float | None,
                     trajectory: str | os.PathLike | None) -> Path | None:
    if steps < 1:
        raise ValueError(f"run_md: steps must be at least 1, got {steps}")
    if log_every < 1:
        raise ValueError(f"run_md: log_every must be at least 1, got {log_every}")
    if initial_K is not None and not initial_K >= 0:
        raise ValueError(f"run_md: temperature_K must be >= 0 (or None), got {initial_K}")
    path = Path(trajectory) if trajectory is not None else None
    if path is not None and path.suffix not in TRAJECTORY_SUFFIXES:
        raise ValueError(f"run_md: trajectory {path} must end in one of {TRAJECTORY_SUFFIXES}")
    return path


class _Recorder:
    """Collects one row per recorded step (and writes the trajectory frame and log row)."""

    def __init__(self, atoms: Atoms, dynamics: MolecularDynamics, timestep_fs: float, npt: bool,
                 trajectory: Path | None, log_file: str | os.PathLike | None) -> None:
        self.atoms, self.dynamics, self.timestep_fs, self.npt = atoms, dynamics, timestep_fs, npt
        self.conserved: Callable[[], float] | None = getattr(dynamics, "get_conserved_energy", None)
        self.rows: list[tuple[float, ...]] = []
        self.write_frame, self._close = trajectory_writer(trajectory, atoms) if trajectory else (None, None)
        self.log = CsvLog(log_file, npt=npt, conserved=self.conserved is not None) if log_file is not None else None

    def __call__(self) -> None:
        atoms = self.atoms
        potential, kinetic = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        row = [self.dynamics.nsteps * self.timestep_fs, potential, kinetic, potential + kinetic,
               atoms.get_temperature()]
        if self.npt:
            stress = atoms.get_stress(voigt=False, include_ideal_gas=True)
            row += [atoms.get_volume(), -np.trace(stress) / 3.0 / units.GPa]
        if self.conserved is not None:
            row.append(self.conserved())
        self.rows.append(tuple(row))
        if self.write_frame is not None:
            self.write_frame()
        if self.log is not None:
            self.log.write(self.rows[-1])

    @property
    def temperature_K(self) -> float:
        return self.rows[-1][4] if self.rows else math.nan

    def close(self) -> None:
        if self._close is not None:
            self._close()
        if self.log is not None:
            self.log.close()

    def columns(self) -> dict[str, np.ndarray | None]:
        """The recorded arrays as `MDResult` fields."""
        columns = np.array(self.rows, dtype=np.float64).T
        return {
            "times_fs": columns[0], "potential_energy": columns[1], "kinetic_energy": columns[2],
            "total_energy": columns[3], "temperature_K": columns[4],
            "volume_A3": columns[5] if self.npt else None, "pressure_GPa": columns[6] if self.npt else None,
            "conserved_energy": columns[-1] if self.conserved is not None else None,
        }


def run_md(
    atoms: Atoms,
    calculator: BaseCalculator | None,
    settings: EnsembleSettings | None = None,
    steps: int = 1000,
    *,
    initial_temperature_K: float | None = None,
    keep_momenta: bool = False,
    trajectory: str | os.PathLike | None = None,
    log_file: str | os.PathLike | None = None,
    log_every: int = 10,
    progress: bool = True,
    monitor: Callable[[], None] | None = None,
) -> MDResult:
    """Run ``steps`` MD steps on ``atoms`` (moved in place) as ``settings`` say.

    Args:
        atoms: the structure; ``calculator`` is attached to it (None keeps ``atoms.calc``).
            NPT needs a 3D-periodic cell and a calculator with stress.
        settings: the ensemble, time step, thermostat and barostat (`EnsembleSettings`;
            default: NVE, 1 fs, initial velocities at 300 K). See
            `equipot.simulate.ensembles` for the ASE classes. ``timestep_fs="auto"``
            takes the recommended step of `equipot.properties.stable_timestep` at the
            starting structure (stored in ``result.timestep_estimate``).
        steps: number of MD steps (>= 1).
        initial_temperature_K: temperature of the initial velocities, if not
            ``settings.temperature_K``. Velocities are drawn from a Maxwell-Boltzmann
            distribution with ``np.random.default_rng(settings.seed)``, then the total
            momentum is removed (and for non-periodic structures the angular momentum),
            keeping the temperature. For NVE, a temperature of ``None`` keeps the atoms'
            momenta; ``keep_momenta=True`` always does.
        trajectory: ``.traj`` (ASE) or ``.xyz``/``.extxyz`` file written every
            ``log_every`` steps (positions, momenta, cell, energy, forces).
        log_file: CSV written while the run goes (flushed every row): time_fs,
            potential_eV, kinetic_eV, total_eV, temperature_K, then volume_A3 and
            pressure_GPa for NPT, and conserved_eV for Nose-Hoover/MTK integrators.
        log_every: record every ``log_every`` steps, plus step 0 and the last step.
        progress: show a transient rich progress bar (only on a terminal).
        monitor: called after every step, e.g. an `UncertaintyMonitor` (which may end
            the run with `ExtrapolationError`; the log and trajectory so far are kept).

    Returns:
        `MDResult`; for NVE its ``drift_per_atom_per_ps`` measures energy conservation.
    """
    settings = EnsembleSettings() if settings is None else settings
    initial_K = settings.temperature_K if initial_temperature_K is None else initial_temperature_K
    path = _check_arguments(steps, log_every, None if keep_momenta else initial_K, trajectory)
    if calculator is not None:
        atoms.calc = calculator
    if atoms.calc is None:
        raise ValueError("run_md: no calculator given and atoms.calc is None")
    check_structure(atoms.positions, atoms.cell.array, atoms.pbc, name="run_md")  # before the velocities
    settings, estimate = resolve_timestep(atoms, settings)  # timestep_fs="auto": from the Hessian, before moving
    build_dynamics = make_dynamics(atoms, settings)
    if not keep_momenta:
        _initial_velocities(atoms, initial_K, settings.seed)
    dynamics = build_dynamics()  # after the velocities: the MTK integrators copy them when built
    ensemble = settings.ensemble
    record = _Recorder(atoms, dynamics, settings.timestep_fs, ensemble == "npt", path, log_file)
    dynamics.attach(record, interval=log_every)
    start = time.perf_counter()
    try:
        with progress_bar(progress, steps, ensemble.upper()) as advance:
            dynamics.attach(lambda: advance(dynamics.nsteps, record.temperature_K), interval=1)
            if monitor is not None:
                dynamics.attach(monitor, interval=1)
            dynamics.run(steps)
        if steps % log_every:
            record()
    finally:
        record.close()
    return MDResult(
        **record.columns(), n_atoms=len(atoms), timestep_fs=float(settings.timestep_fs), steps=int(steps),
        wall_time_s=time.perf_counter() - start, trajectory=path, ensemble=ensemble,
        target_temperature_K=None if ensemble == "nve" else float(settings.temperature_K),  # type: ignore[arg-type]
        target_pressure_GPa=float(settings.pressure_GPa) if ensemble == "npt" else None,
        log_file=Path(log_file) if log_file is not None else None, integrator=integrator_name(dynamics),
        timestep_estimate=None if estimate is None else asdict(estimate),
    )


def run_nve(
    atoms: Atoms,
    calculator: BaseCalculator | None,
    steps: int,
    timestep_fs: float = 0.5,
    temperature_K: float | None = 300.0,
    seed: int = 0,
    trajectory: str | os.PathLike | None = None,
    log_every: int = 10,
    progress: bool = True,
    log_file: str | os.PathLike | None = None,
) -> MDResult:
    """Run ``steps`` steps of velocity-Verlet NVE dynamics on ``atoms`` (moved in place).

    Args:
        atoms: the structure; ``calculator`` is attached to it (None keeps ``atoms.calc``).
        steps: number of MD steps (>= 1).
        timestep_fs: time step in fs.
        temperature_K: initial velocities are drawn from a Maxwell-Boltzmann distribution
            at this temperature with ``np.random.default_rng(seed)``; the total momentum
            is removed, and for non-periodic structures the total angular momentum too
            (keeping the drawn temperature). ``None`` keeps the atoms' momenta.
        trajectory: ``.traj`` (ASE) or ``.xyz``/``.extxyz`` file written every
            ``log_every`` steps (positions, momenta, energy, forces).
        log_every: energies are recorded every ``log_every`` steps, plus step 0 and the last.
        progress: show a transient rich progress bar (only on a terminal).
        log_file: optional CSV log (see `run_md`).

    Returns:
        `MDResult`, whose ``drift_per_atom_per_ps`` and ``fluctuation_per_atom`` measure
        energy conservation.
    """
    try:
        settings = EnsembleSettings("nve", timestep_fs, temperature_K, seed=seed)
        return run_md(atoms, calculator, settings, steps, trajectory=trajectory, log_file=log_file,
                      log_every=log_every, progress=progress)
    except ValueError as error:  # name the function the caller called
        message = str(error)
        if message.startswith("run_md: "):
            raise ValueError("run_nve: " + message.removeprefix("run_md: ")) from None
        raise
