"""Structure relaxation: atomic positions, and optionally the cell, with ASE's optimizers.

The cell is relaxed through `ase.filters.FrechetCellFilter` (deformation gradient in log
space, ASE's recommended cell filter), optionally under an external ``pressure_GPa``.
Convergence means both criteria hold: the largest atomic force is at most ``fmax`` (eV/Å)
and, with ``relax_cell``, every component of ``stress + pressure * I`` is at most
``stress_tol_GPa`` in magnitude (only the pressure with ``hydrostatic_strain``).

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> atoms = bulk("Cu", cubic=True, a=3.7)
    >>> result = relax(atoms, EMT(), relax_cell=True)
    >>> result.converged, round(float(atoms.cell[0, 0]), 2)
    (True, 3.59)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator, PropertyNotImplementedError
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from ase.optimize.optimize import Optimizer

from ..data import check_cell_volume
from ._output import TRAJECTORY_SUFFIXES, trajectory_writer
from .monitor import UncertaintyMonitor

__all__ = ["OPTIMIZERS", "RelaxResult", "relax"]

OPTIMIZERS: dict[str, type[Optimizer]] = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS}


@dataclass
class RelaxResult:
    """Outcome of `relax`.

    ``atoms`` is the relaxed structure (the object passed in, moved in place);
    ``energies`` [n_steps + 1] the potential energy (eV) at each optimizer step;
    ``max_force`` the final largest atomic force (eV/Å); ``stress_GPa`` the final Voigt
    stress (xx, yy, zz, yz, xz, xy; GPa, ASE's sign: positive = tensile) where the
    structure is 3D-periodic and the calculator gives one, else None; ``volume_*`` in Å³.
    """

    atoms: Atoms
    converged: bool
    steps: int
    energies: np.ndarray
    max_force: float
    fmax: float
    relax_cell: bool
    optimizer: str
    stress_GPa: np.ndarray | None = None
    stress_tol_GPa: float | None = None
    pressure_target_GPa: float = 0.0
    initial_volume: float | None = None
    final_volume: float | None = None
    trajectory: Path | None = None
    uncertainty: dict[str, Any] | None = None

    @property
    def initial_energy(self) -> float:
        """Potential energy before the first step, eV."""
        return float(self.energies[0])

    @property
    def final_energy(self) -> float:
        """Potential energy of the relaxed structure, eV."""
        return float(self.energies[-1])

    @property
    def pressure_GPa(self) -> float | None:
        """Final pressure -trace(stress)/3, GPa (None without a stress)."""
        return None if self.stress_GPa is None else float(-np.mean(self.stress_GPa[:3]))

    @property
    def max_stress_error_GPa(self) -> float | None:
        """Largest |stress + target pressure * I| component at the end, GPa (None without a stress)."""
        if self.stress_GPa is None:
            return None
        return float(np.max(np.abs(_stress_error(self.stress_GPa, self.pressure_target_GPa))))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        return {
            "converged": self.converged, "steps": self.steps, "optimizer": self.optimizer,
            "relax_cell": self.relax_cell, "fmax": self.fmax, "stress_tol_GPa": self.stress_tol_GPa,
            "initial_energy": self.initial_energy, "final_energy": self.final_energy, "max_force": self.max_force,
            "stress_GPa": None if self.stress_GPa is None else self.stress_GPa.tolist(),
            "pressure_GPa": self.pressure_GPa, "pressure_target_GPa": self.pressure_target_GPa,
            "initial_volume": self.initial_volume, "final_volume": self.final_volume,
            "trajectory": None if self.trajectory is None else str(self.trajectory),
            "uncertainty": self.uncertainty,
        }


def _stress_error(stress_GPa: np.ndarray, pressure_GPa: float) -> np.ndarray:
    """Voigt stress minus the target (-pressure on the diagonal), GPa."""
    return stress_GPa + pressure_GPa * np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


def _stress_GPa(atoms: Atoms) -> np.ndarray | None:
    if not atoms.pbc.all():
        return None
    try:
        return np.asarray(atoms.get_stress(voigt=True), dtype=np.float64) / units.GPa
    except PropertyNotImplementedError:
        return None


def _max_force(atoms: Atoms) -> float:
    forces = atoms.get_forces()
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0


def _check_arguments(atoms: Atoms, fmax: float, stress_tol_GPa: float, optimizer: str, max_steps: int,
                     relax_cell: bool, trajectory: str | os.PathLike | None) -> Path | None:
    if not fmax > 0:
        raise ValueError(f"relax: fmax must be positive (eV/Å), got {fmax}")
    if not stress_tol_GPa > 0:
        raise ValueError(f"relax: stress_tol_GPa must be positive, got {stress_tol_GPa}")
    if optimizer.upper() not in OPTIMIZERS:
        raise ValueError(f"relax: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    if max_steps < 0:
        raise ValueError(f"relax: max_steps must be >= 0, got {max_steps}")
    if relax_cell and not atoms.pbc.all():
        raise ValueError(
            f"relax: relax_cell needs a periodic structure with a 3D cell (pbc all True), got "
            f"pbc={atoms.pbc.tolist()}; relax the positions only (relax_cell=False)"
        )
    if relax_cell:
        check_cell_volume(atoms.cell.array, "relax", "relax_cell (--cell) needs")
    path = Path(trajectory) if trajectory is not None else None
    if path is not None and path.suffix not in TRAJECTORY_SUFFIXES:
        raise ValueError(f"relax: trajectory {path} must end in one of {TRAJECTORY_SUFFIXES}")
    return path


def relax(
    atoms: Atoms,
    calculator: BaseCalculator | None = None,
    fmax: float = 0.05,
    relax_cell: bool = False,
    stress_tol_GPa: float = 0.1,
    pressure_GPa: float = 0.0,
    hydrostatic_strain: bool = False,
    optimizer: str = "FIRE",
    max_steps: int = 1000,
    trajectory: str | os.PathLike | None = None,
    log_file: str | os.PathLike | None = None,
    monitor: UncertaintyMonitor | None = None,
) -> RelaxResult:
    """Relax ``atoms`` in place until forces (and, with ``relax_cell``, stresses) are small.

    Args:
        atoms: the structure; ``calculator`` is attached to it (None keeps ``atoms.calc``).
            Constraints on ``atoms`` (e.g. `ase.constraints.FixAtoms`) are respected.
        fmax: force tolerance, eV/Å (the largest per-atom force norm).
        relax_cell: also relax the cell (3D-periodic structures only) with
            `ase.filters.FrechetCellFilter`.
        stress_tol_GPa: with ``relax_cell``, the largest allowed component of
            ``stress + pressure_GPa * I``, GPa.
        pressure_GPa: external (scalar) pressure for the cell, GPa; positive compresses.
        hydrostatic_strain: keep the cell shape, change only its volume.
        optimizer: "FIRE" (default), "BFGS" or "LBFGS" (`ase.optimize`).
        max_steps: at most this many optimizer steps.
        trajectory: ``.traj`` or ``.xyz``/``.extxyz`` file with every step.
        log_file: the optimizer's text log ("-" for stdout); None writes none.
        monitor: an `UncertaintyMonitor` that checks ``atoms`` before the first step and
            after every step (``"relaxation step N"``); with ``on_extrapolation="stop"`` a
            flagged structure ends the relaxation with `ExtrapolationError` (frame written
            out), with ``"warn"`` it warns and goes on. Its summary (largest uncertainties
            seen) is the result's ``uncertainty``.

    Returns:
        `RelaxResult`; ``converged`` is False when ``max_steps`` ran out first.
    """
    path = _check_arguments(atoms, fmax, stress_tol_GPa, optimizer, max_steps, relax_cell, trajectory)
    if calculator is not None:
        atoms.calc = calculator
    if atoms.calc is None:
        raise ValueError("relax: no calculator given and atoms.calc is None")
    target: Any = atoms
    if relax_cell:
        target = FrechetCellFilter(atoms, hydrostatic_strain=hydrostatic_strain,
                                   scalar_pressure=pressure_GPa * units.GPa)
    initial_volume = atoms.get_volume() if atoms.pbc.all() and atoms.cell.rank == 3 else None
    energies: list[float] = []

    def converged() -> bool:
        energies.append(atoms.get_potential_energy())
        if _max_force(atoms) > fmax:
            return False
        if not relax_cell:
            return True
        stress = _stress_GPa(atoms)
        assert stress is not None  # relax_cell needs a stress, FrechetCellFilter asked for one
        error = _stress_error(stress, pressure_GPa)
        if hydrostatic_strain:
            return abs(float(np.mean(error[:3]))) <= stress_tol_GPa
        return float(np.max(np.abs(error))) <= stress_tol_GPa

    write_frame, close = trajectory_writer(path, atoms) if path is not None else (None, None)
    logfile = str(log_file) if log_file is not None else None
    done = False
    try:
        with OPTIMIZERS[optimizer.upper()](target, logfile=logfile) as dynamics:
            if write_frame is not None:
                dynamics.attach(write_frame, interval=1)
            if monitor is not None:
                dynamics.attach(lambda: monitor.observe(atoms, f"relaxation step {dynamics.nsteps}"), interval=1)
            # ASE's own test (fmax on the filter's generalized forces) is replaced by ours: fmax=0
            for _ in dynamics.irun(fmax=0.0, steps=max_steps):
                if converged():
                    done = True
                    break
            steps = dynamics.nsteps
    finally:
        if close is not None:
            close()
    return RelaxResult(
        atoms=atoms, converged=done, steps=int(steps), energies=np.array(energies), max_force=_max_force(atoms),
        fmax=float(fmax), relax_cell=relax_cell, optimizer=optimizer.upper(), stress_GPa=_stress_GPa(atoms),
        stress_tol_GPa=float(stress_tol_GPa) if relax_cell else None, pressure_target_GPa=float(pressure_GPa),
        initial_volume=initial_volume, final_volume=atoms.get_volume() if initial_volume is not None else None,
        trajectory=path, uncertainty=monitor.summary() if monitor is not None else None,
    )
