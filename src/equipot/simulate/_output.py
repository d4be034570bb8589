"""What simulations leave behind: `MDResult`, the CSV log, trajectory files, the progress bar."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms

from ..progress import progress_enabled

__all__ = ["TRAJECTORY_SUFFIXES", "CsvLog", "MDResult", "progress_bar", "trajectory_writer"]

TRAJECTORY_SUFFIXES = (".traj", ".xyz", ".extxyz")
BASE_COLUMNS = ("time_fs", "potential_eV", "kinetic_eV", "total_eV", "temperature_K")


def _csv_header(npt: bool, conserved: bool) -> list[str]:
    return [*BASE_COLUMNS, *(("volume_A3", "pressure_GPa") if npt else ()), *(("conserved_eV",) if conserved else ())]


def _csv_row(values: Sequence[float]) -> list[str]:
    return [f"{value:.10g}" for value in values]


@dataclass
class MDResult:
    """Energies of an MD run, recorded every ``log_every`` steps and at the last step.

    Arrays have shape [n_frames]: ``times_fs`` (fs since the start), ``potential_energy``,
    ``kinetic_energy`` and ``total_energy`` (eV, whole system), ``temperature_K`` (K).
    ``wall_time_s`` is the time spent in the dynamics (s); ``trajectory`` the file written.
    NPT runs add ``volume_A3`` (Å³) and ``pressure_GPa`` (instantaneous, with the kinetic
    term); Nose-Hoover and MTK runs add ``conserved_energy`` (eV, the integrator's
    conserved quantity). ``target_temperature_K`` / ``target_pressure_GPa`` are the
    thermostat's and barostat's targets (None where there is none); ``integrator`` the
    ASE class that ran (``module.Class``). ``timestep_estimate``: for a run with
    ``timestep_fs="auto"``, the `equipot.properties.TimestepEstimate` fields that chose
    ``timestep_fs`` (else None).
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
    ensemble: str = "nve"
    volume_A3: np.ndarray | None = None
    pressure_GPa: np.ndarray | None = None
    conserved_energy: np.ndarray | None = None
    target_temperature_K: float | None = None
    target_pressure_GPa: float | None = None
    log_file: Path | None = None
    integrator: str | None = None
    timestep_estimate: dict[str, Any] | None = None

    @staticmethod
    def _slope_per_ps(times_fs: np.ndarray, values: np.ndarray) -> float:
        if len(times_fs) < 2:
            return math.nan
        return float(np.polyfit(times_fs, values, 1)[0] * 1000.0)

    @property
    def drift_per_atom_per_ps(self) -> float:
        """Slope of a least-squares line through total energy per atom against time, eV/atom/ps.

        NaN with fewer than two frames. Meaningful for NVE; a thermostat exchanges energy.
        """
        return self._slope_per_ps(self.times_fs, self.total_energy / self.n_atoms)

    @property
    def conserved_drift_per_atom_per_ps(self) -> float:
        """Drift of the integrator's conserved quantity (the total energy for NVE), eV/atom/ps.

        NaN for Langevin runs, which conserve nothing.
        """
        if self.ensemble == "nve":
            return self.drift_per_atom_per_ps
        if self.conserved_energy is None:
            return math.nan
        return self._slope_per_ps(self.times_fs, self.conserved_energy / self.n_atoms)

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

    def mean_over_last(self, name: str, fraction: float = 0.5) -> float:
        """Mean of the array ``name`` (e.g. "temperature_K", "volume_A3") over the last
        ``fraction`` of the frames (at least one frame)."""
        values = getattr(self, name)
        if values is None:
            raise ValueError(f"MDResult.mean_over_last: this {self.ensemble.upper()} run has no {name}")
        count = max(1, int(round(len(values) * fraction)))
        return float(np.mean(values[-count:]))

    def _columns(self) -> list[tuple[str, np.ndarray]]:
        arrays = [self.times_fs, self.potential_energy, self.kinetic_energy, self.total_energy, self.temperature_K]
        if self.volume_A3 is not None and self.pressure_GPa is not None:
            arrays += [self.volume_A3, self.pressure_GPa]
        if self.conserved_energy is not None:
            arrays.append(self.conserved_energy)
        header = _csv_header(self.volume_A3 is not None, self.conserved_energy is not None)
        return list(zip(header, arrays))

    def to_dict(self, include_arrays: bool = True) -> dict[str, Any]:
        """JSON-safe summary (drift, fluctuation, speed, means; NaN written as None) and,
        optionally, the arrays."""

        def safe(value: float | None) -> float | None:
            return None if value is None or math.isnan(value) else float(value)

        data: dict[str, Any] = {
            "ensemble": self.ensemble,
            "integrator": self.integrator,
            "n_atoms": self.n_atoms,
            "steps": self.steps,
            "timestep_fs": self.timestep_fs,
            "duration_fs": float(self.steps * self.timestep_fs),
            "drift_per_atom_per_ps": safe(self.drift_per_atom_per_ps),
            "conserved_drift_per_atom_per_ps": safe(self.conserved_drift_per_atom_per_ps),
            "fluctuation_per_atom": safe(self.fluctuation_per_atom),
            "max_deviation_per_atom": safe(self.max_deviation_per_atom),
            "mean_temperature_K": float(np.mean(self.temperature_K)),
            "target_temperature_K": safe(self.target_temperature_K),
            "target_pressure_GPa": safe(self.target_pressure_GPa),
            "wall_time_s": self.wall_time_s,
            "ns_per_day": safe(self.ns_per_day),
            "trajectory": None if self.trajectory is None else str(self.trajectory),
        }
        if self.timestep_estimate is not None:
            data["timestep_estimate"] = dict(self.timestep_estimate)
        if self.volume_A3 is not None and self.pressure_GPa is not None:
            data["mean_volume_A3"] = float(np.mean(self.volume_A3))
            data["mean_pressure_GPa"] = float(np.mean(self.pressure_GPa))
        if include_arrays:
            for name in ("times_fs", "potential_energy", "kinetic_energy", "total_energy", "temperature_K",
                         "volume_A3", "pressure_GPa", "conserved_energy"):
                if getattr(self, name) is not None:
                    data[name] = getattr(self, name).tolist()
        return data

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the log (time fs, energies eV, temperature K; volume Å³ and pressure GPa
        for NPT; conserved quantity eV where there is one), one row per frame."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = self._columns()
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([name for name, _ in columns])
            for row in zip(*(values for _, values in columns)):
                writer.writerow(_csv_row(row))
        return path


class CsvLog:
    """The CSV log of `MDResult.write_csv`, written one row at a time (flushed) during a run."""

    def __init__(self, path: str | os.PathLike, npt: bool, conserved: bool) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(_csv_header(npt, conserved))

    def write(self, row: Sequence[float]) -> None:
        self._writer.writerow(_csv_row(row))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def trajectory_writer(path: Path, atoms: Atoms) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(write_frame, close)`` for an ASE ``.traj`` or an extxyz (``.xyz``/``.extxyz``) file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".traj":
        from ase.io.trajectory import Trajectory

        trajectory = Trajectory(str(path), "w", atoms)
        return (lambda: trajectory.write(atoms)), trajectory.close
    handle = path.open("w", encoding="utf-8")

    def write_frame() -> None:
        ase.io.write(handle, atoms, format="extxyz")
        handle.flush()

    return write_frame, handle.close


@contextmanager
def progress_bar(enabled: bool, steps: int, label: str = "NVE") -> Iterator[Callable[[int, float], None]]:
    """Transient rich progress bar over ``steps`` steps, yielding ``advance(step, temperature_K)``;
    a no-op when disabled or when stdout is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    if not (enabled and progress_enabled() and console.is_terminal):
        yield lambda step, temperature: None
        return
    columns = (
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("T = {task.fields[T]} K"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("md", total=steps, T="...")
        yield lambda step, temperature: bar.update(task, completed=step, T=f"{temperature:.0f}")
