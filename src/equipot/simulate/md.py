"""Molecular dynamics through ASE: microcanonical (NVE) runs with energy bookkeeping.

Units are ASE's: energies in eV, time in fs (converted with ``ase.units.fs``),
temperature in K. Any ASE calculator works, `equipot.EquipotCalculator` included; for
energy conservation tests run the model in float64.

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> atoms = bulk("Cu", cubic=True).repeat(2)
    >>> result = run_nve(atoms, EMT(), steps=20, timestep_fs=1.0, progress=False)
    >>> float(result.times_fs[-1]), len(result.total_energy)
    (20.0, 3)
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator
from ase.md import velocitydistribution
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

__all__ = ["MDResult", "run_nve"]

TRAJECTORY_SUFFIXES = (".traj", ".xyz", ".extxyz")


@dataclass
class MDResult:
    """Energies of an MD run, recorded every ``log_every`` steps and at the last step.

    Arrays have shape [n_frames]: ``times_fs`` (fs since the start), ``potential_energy``,
    ``kinetic_energy`` and ``total_energy`` (eV, whole system), ``temperature_K`` (K).
    ``wall_time_s`` is the time spent in the dynamics (s); ``trajectory`` the file written.
    """

    times_fs: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    total_energy: np.ndarray
    temperature_K: np.ndarray
    n_atoms: int
    timestep_fs: float
    steps: int
    wall_time_s: float = 0.0
    trajectory: Path | None = None

    @property
    def drift_per_atom_per_ps(self) -> float:
        """Slope of a least-squares line through total energy per atom against time, eV/atom/ps.

        NaN with fewer than two frames.
        """
        if len(self.times_fs) < 2:
            return math.nan
        slope_per_fs = np.polyfit(self.times_fs, self.total_energy / self.n_atoms, 1)[0]
        return float(slope_per_fs * 1000.0)

    @property
    def fluctuation_per_atom(self) -> float:
        """Standard deviation of the total energy over the run divided by the atom count, eV/atom."""
        return float(np.std(self.total_energy) / self.n_atoms)

    @property
    def max_deviation_per_atom(self) -> float:
        """Largest |E_total(t) - E_total(0)| per atom over the run, eV/atom."""
        return float(np.max(np.abs(self.total_energy - self.total_energy[0])) / self.n_atoms)

    @property
    def ns_per_day(self) -> float:
        """Simulated nanoseconds per day of wall time at this run's speed (NaN if untimed)."""
        if self.wall_time_s <= 0:
            return math.nan
        return self.steps * self.timestep_fs * 1e-6 / self.wall_time_s * 86400.0

    @property
    def energies(self) -> dict[str, np.ndarray]:
        """``{"total", "potential", "kinetic"}`` -> [n_frames] eV, for `equipot.plots.energy_trace_plot`."""
        return {"total": self.total_energy, "potential": self.potential_energy, "kinetic": self.kinetic_energy}

    def to_dict(self, include_arrays: bool = True) -> dict[str, Any]:
        """JSON-safe summary (drift, fluctuation, speed; NaN written as None) and, optionally, the arrays."""

        def safe(value: float) -> float | None:
            return None if math.isnan(value) else float(value)

        data: dict[str, Any] = {
            "n_atoms": self.n_atoms,
            "steps": self.steps,
            "timestep_fs": self.timestep_fs,
            "duration_fs": float(self.steps * self.timestep_fs),
            "drift_per_atom_per_ps": safe(self.drift_per_atom_per_ps),
            "fluctuation_per_atom": safe(self.fluctuation_per_atom),
            "max_deviation_per_atom": safe(self.max_deviation_per_atom),
            "mean_temperature_K": float(np.mean(self.temperature_K)),
            "wall_time_s": self.wall_time_s,
            "ns_per_day": safe(self.ns_per_day),
            "trajectory": None if self.trajectory is None else str(self.trajectory),
        }
        if include_arrays:
            for name in ("times_fs", "potential_energy", "kinetic_energy", "total_energy", "temperature_K"):
                data[name] = getattr(self, name).tolist()
        return data

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the log (time fs, energies eV, temperature K), one row per frame."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time_fs", "potential_eV", "kinetic_eV", "total_eV", "temperature_K"])
            for row in zip(self.times_fs, self.potential_energy, self.kinetic_energy, self.total_energy,
                           self.temperature_K):
                writer.writerow([f"{value:.10g}" for value in row])
        return path


def _trajectory_writer(path: Path, atoms: Atoms) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(write_frame, close)`` for an ASE ``.traj`` or an extxyz (``.xyz``/``.extxyz``) file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".traj":
        from ase.io.trajectory import Trajectory

        trajectory = Trajectory(str(path), "w", atoms)
        return (lambda: trajectory.write(atoms)), trajectory.close
    handle = path.open("w", encoding="utf-8")
    return (lambda: ase.io.write(handle, atoms, format="extxyz")), handle.close


def _initial_velocities(atoms: Atoms, temperature_K: float | None, seed: int) -> None:
    if temperature_K is None:
        return  # keep the momenta the atoms already have
    if temperature_K == 0 or len(atoms) == 1:  # a lone atom: removing the drift leaves no motion
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        return
    rng = np.random.default_rng(seed)
    if hasattr(velocitydistribution, "thermalize_momenta"):  # ASE >= 3.29
        velocitydistribution.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:
        velocitydistribution.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)  # zero total momentum; the temperature is rescaled back
    if not atoms.pbc.any():
        ZeroRotation(atoms)  # a free molecule: no overall rotation either


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

    Returns:
        `MDResult`, whose ``drift_per_atom_per_ps`` and ``fluctuation_per_atom`` measure
        energy conservation.
    """
    if steps < 1:
        raise ValueError(f"run_nve: steps must be at least 1, got {steps}")
    if not timestep_fs > 0:
        raise ValueError(f"run_nve: timestep_fs must be positive, got {timestep_fs}")
    if log_every < 1:
        raise ValueError(f"run_nve: log_every must be at least 1, got {log_every}")
    if temperature_K is not None and temperature_K < 0:
        raise ValueError(f"run_nve: temperature_K must be >= 0 (or None), got {temperature_K}")
    path = Path(trajectory) if trajectory is not None else None
    if path is not None and path.suffix not in TRAJECTORY_SUFFIXES:
        raise ValueError(f"run_nve: trajectory {path} must end in one of {TRAJECTORY_SUFFIXES}")
    if calculator is not None:
        atoms.calc = calculator
    if atoms.calc is None:
        raise ValueError("run_nve: no calculator given and atoms.calc is None")
    _initial_velocities(atoms, temperature_K, seed)

    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    rows: list[tuple[float, float, float, float]] = []
    write_frame, close = _trajectory_writer(path, atoms) if path is not None else (None, None)

    def record() -> None:
        potential, kinetic = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        rows.append((dynamics.nsteps * timestep_fs, potential, kinetic, atoms.get_temperature()))
        if write_frame is not None:
            write_frame()

    dynamics.attach(record, interval=log_every)
    start = time.perf_counter()
    try:
        with _progress_bar(progress, steps) as advance:
            dynamics.attach(lambda: advance(dynamics.nsteps, rows[-1][3] if rows else math.nan), interval=1)
            dynamics.run(steps)
        if steps % log_every:
            record()
    finally:
        if close is not None:
            close()
    wall_time = time.perf_counter() - start
    columns = np.array(rows, dtype=np.float64).T
    return MDResult(
        times_fs=columns[0], potential_energy=columns[1], kinetic_energy=columns[2],
        total_energy=columns[1] + columns[2], temperature_K=columns[3], n_atoms=len(atoms),
        timestep_fs=float(timestep_fs), steps=int(steps), wall_time_s=wall_time, trajectory=path,
    )


@contextmanager
def _progress_bar(enabled: bool, steps: int) -> Iterator[Callable[[int, float], None]]:
    """Transient rich progress bar over MD steps, yielding ``advance(step, temperature_K)``;
    a no-op when disabled or when stdout is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    if not (enabled and console.is_terminal):
        yield lambda step, temperature: None
        return
    columns = (
        TextColumn("NVE"), BarColumn(), MofNCompleteColumn(), TextColumn("T = {task.fields[T]} K"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("md", total=steps, T="...")
        yield lambda step, temperature: bar.update(task, completed=step, T=f"{temperature:.0f}")
