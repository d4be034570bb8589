"""Which ASE integrator runs each ensemble, and its construction from `EnsembleSettings`.

================  =========================================================================
ensemble          ASE integrator
================  =========================================================================
``nve``           `ase.md.verlet.VelocityVerlet`
``nvt``           `ase.md.langevin.Langevin` (``thermostat="langevin"``, default; friction
                  in 1/fs) or `ase.md.nose_hoover_chain.NoseHooverChainNVT`
                  (``thermostat="nose-hoover"``, damping time ``tdamp_fs``)
``npt``           ``barostat="mtk"`` (default): Martyna-Tobias-Klein with Nose-Hoover chains,
                  `ase.md.nose_hoover_chain.IsotropicMTKNPT` (cell scaled uniformly) or
                  `~ase.md.nose_hoover_chain.MTKNPT` (``anisotropic=True``: cell shape free);
                  ``barostat="langevin"``: `ase.md.langevinbaoab.LangevinBAOAB` (Langevin
                  thermostat and Langevin-Hoover barostat, hydrostatic or full cell)
================  =========================================================================

These are the constant-pressure integrators ASE 3.29 recommends: ``ase.md.npt.NPT`` is a
deprecated alias of `~ase.md.melchionna.MelchionnaNPT` ("not recommended due to stability
problems"), and Berendsen coupling (`ase.md.nptberendsen`) does not sample the NPT
ensemble. Both MTK integrators refuse constraints (ASE raises ``NotImplementedError``).

Units: time steps and damping times in fs, temperature in K, pressure in GPa (positive =
compression; 1 GPa = 10 kbar), friction in 1/fs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.md import MolecularDynamics

from ..data import check_cell_volume

if TYPE_CHECKING:
    from ..properties.timestep import TimestepEstimate

__all__ = [
    "BAROSTATS",
    "ENSEMBLES",
    "THERMOSTATS",
    "EnsembleSettings",
    "check_npt_structure",
    "integrator_name",
    "make_dynamics",
    "resolve_timestep",
]

Ensemble = Literal["nve", "nvt", "npt"]
ENSEMBLES: tuple[str, ...] = ("nve", "nvt", "npt")
THERMOSTATS: tuple[str, ...] = ("langevin", "nose-hoover")
BAROSTATS: tuple[str, ...] = ("mtk", "langevin")


def _positive(label: str, value: float | None) -> float:
    if value is None or not (math.isfinite(value) and value > 0):
        raise ValueError(f"EnsembleSettings: {label} must be a positive number, got {value}")
    return float(value)


@dataclass(frozen=True)
class EnsembleSettings:
    """How an MD run samples: the ensemble, the time step and the thermostat and barostat.

    - ``ensemble``: "nve", "nvt" or "npt"; ``timestep_fs``: the time step (fs), or
      ``"auto"``: `resolve_timestep` (called by `run_md`) replaces it by
      `equipot.properties.stable_timestep`'s recommended step for the starting structure,
      ``SAFETY_FRACTION`` (0.15) x the velocity-Verlet limit ``2 / omega_max`` from the
      largest eigenvalue of the mass-weighted Hessian;
    - ``temperature_K``: the thermostat's target (K), required for ``nvt`` and ``npt``
      (for ``nve`` only the temperature of the initial velocities; None keeps the atoms'
      momenta);
    - ``thermostat`` (NVT): "langevin" (friction ``friction_per_fs``, 1/fs; 0.01/fs is a
      relaxation time of 100 fs) or "nose-hoover" (damping time ``tdamp_fs``);
    - ``pressure_GPa`` (NPT): the target pressure (positive = compression);
    - ``barostat`` (NPT): "mtk" (Martyna-Tobias-Klein with Nose-Hoover chains, damping
      times ``tdamp_fs`` and ``pdamp_fs``; ASE suggests about 100 and 1000 time steps) or
      "langevin" (ASE's LangevinBAOAB: friction ``friction_per_fs``, cell time constant
      ``pdamp_fs``); ``anisotropic=True`` lets the cell shape change too;
    - ``seed``: seeds the initial velocities (``default_rng(seed)``) and the noise of the
      stochastic integrators (``default_rng([seed, 1])``).

    Checked when built: ValueError naming the setting for a value out of range. Whether
    the structure suits the ensemble (NPT needs a 3D cell) is checked by `make_dynamics`.
    """

    ensemble: str = "nve"
    timestep_fs: float | str = 1.0
    temperature_K: float | None = 300.0
    thermostat: str = "langevin"
    friction_per_fs: float = 0.01
    tdamp_fs: float = 100.0
    pressure_GPa: float = 0.0
    barostat: str = "mtk"
    anisotropic: bool = False
    pdamp_fs: float = 1000.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"EnsembleSettings: ensemble must be one of {ENSEMBLES}, got {self.ensemble!r}")
        if isinstance(self.timestep_fs, str):
            if self.timestep_fs != "auto":
                raise ValueError(
                    f"EnsembleSettings: timestep_fs must be a positive number (fs) or 'auto', got {self.timestep_fs!r}"
                )
        elif not self.timestep_fs > 0:
            raise ValueError(f"EnsembleSettings: timestep_fs must be positive, got {self.timestep_fs}")
        if self.ensemble == "nve":
            return
        _positive(f"temperature_K (the {self.ensemble.upper()} target)", self.temperature_K)
        uses_friction = self.thermostat == "langevin" if self.ensemble == "nvt" else self.barostat == "langevin"
        uses_tdamp = self.thermostat == "nose-hoover" if self.ensemble == "nvt" else self.barostat == "mtk"
        if self.ensemble == "nvt" and self.thermostat not in THERMOSTATS:
            raise ValueError(f"EnsembleSettings: thermostat must be one of {THERMOSTATS}, got {self.thermostat!r}")
        if self.ensemble == "npt":
            if self.barostat not in BAROSTATS:
                raise ValueError(f"EnsembleSettings: barostat must be one of {BAROSTATS}, got {self.barostat!r}")
            if not math.isfinite(self.pressure_GPa):
                raise ValueError(f"EnsembleSettings: pressure_GPa must be finite, got {self.pressure_GPa}")
            _positive("pdamp_fs", self.pdamp_fs)
        if uses_friction:
            _positive("friction_per_fs", self.friction_per_fs)
        if uses_tdamp:
            _positive("tdamp_fs", self.tdamp_fs)


def check_npt_structure(atoms: Atoms, name: str = "run_md") -> None:
    """Raise ValueError unless ``atoms`` is periodic in 3D with a non-degenerate cell and
    its calculator gives a stress (a barostat needs all three)."""
    if not atoms.pbc.all():
        raise ValueError(
            f"{name}: NPT needs a periodic structure with a 3D cell (pbc all True), got "
            f"pbc={atoms.pbc.tolist()} and cell volume {abs(atoms.cell.volume):.3g} Å³"
        )
    check_cell_volume(atoms.cell.array, name, "NPT needs")
    try:
        atoms.get_stress()
    except PropertyNotImplementedError as error:
        raise ValueError(f"{name}: NPT needs a calculator that gives the stress: {error}") from error


def make_dynamics(atoms: Atoms, settings: EnsembleSettings, name: str = "run_md") -> Callable[[], MolecularDynamics]:
    """Check that ``atoms`` suits ``settings`` now; return a function that builds the ASE
    integrator.

    Call the returned function *after* the initial velocities are drawn: the MTK
    integrators copy positions and momenta when constructed. Raises ValueError, naming
    ``name``, for an NPT run on a structure without a 3D cell or a calculator without
    stress, and for the MTK barostat on a structure with constraints.
    """
    if isinstance(settings.timestep_fs, str):
        raise ValueError(f"{name}: timestep_fs='auto' must be resolved first: call resolve_timestep(atoms, settings)")
    timestep = settings.timestep_fs * units.fs
    if settings.ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return lambda: VelocityVerlet(atoms, timestep=timestep)
    target = float(settings.temperature_K)  # type: ignore[arg-type]  # checked by EnsembleSettings
    rng = np.random.default_rng([settings.seed, 1])
    if settings.ensemble == "nvt":
        if settings.thermostat == "langevin":
            from ase.md.langevin import Langevin

            friction = settings.friction_per_fs / units.fs
            return lambda: Langevin(atoms, timestep, temperature_K=target, friction=friction, fixcm=False, rng=rng)
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        tdamp = settings.tdamp_fs * units.fs
        return lambda: NoseHooverChainNVT(atoms, timestep, temperature_K=target, tdamp=tdamp)
    check_npt_structure(atoms, name)
    return _npt_dynamics(atoms, settings, timestep, target, rng, name)


def _npt_dynamics(
    atoms: Atoms, settings: EnsembleSettings, timestep: float, target: float, rng: np.random.Generator, name: str
) -> Callable[[], MolecularDynamics]:
    pressure = settings.pressure_GPa * units.GPa  # eV/Å³
    pdamp = settings.pdamp_fs * units.fs
    if settings.barostat == "mtk":
        from ase.md.nose_hoover_chain import IsotropicMTKNPT, MTKNPT

        if atoms.constraints:
            raise ValueError(f"{name}: the MTK barostat does not support constraints; use barostat='langevin'")
        integrator = MTKNPT if settings.anisotropic else IsotropicMTKNPT
        tdamp = settings.tdamp_fs * units.fs
        return lambda: integrator(atoms, timestep, temperature_K=target, pressure_au=pressure, tdamp=tdamp,
                                  pdamp=pdamp)
    from ase.md.langevinbaoab import LangevinBAOAB

    t_tau = units.fs / settings.friction_per_fs

    def langevin_baoab() -> MolecularDynamics:
        with warnings.catch_warnings():  # the barostat mass comes from P_tau by ASE's heuristic, as intended
            warnings.filterwarnings("ignore", message="Using heuristic P_mass")
            return LangevinBAOAB(atoms, timestep, temperature_K=target, externalstress=-pressure,
                                 hydrostatic=not settings.anisotropic, T_tau=t_tau, P_tau=pdamp, rng=rng)

    return langevin_baoab


def resolve_timestep(atoms: Atoms, settings: EnsembleSettings) -> tuple[EnsembleSettings, TimestepEstimate | None]:
    """``settings`` with ``timestep_fs="auto"`` replaced by the recommended step for
    ``atoms`` (its calculator attached), and the `TimestepEstimate` behind it; other
    settings come back unchanged with None.

    The estimate is `equipot.properties.stable_timestep` at the starting structure: the
    exact Hessian when ``atoms.calc`` is an `EquipotCalculator` over a model that can
    differentiate twice, else central differences of the calculator's forces (6N calls).
    It is harmonic: a hot system visits stiffer regions, hence the safety fraction 0.15.
    """
    if not isinstance(settings.timestep_fs, str):
        return settings, None
    from ..calculator import EquipotCalculator
    from ..properties.timestep import stable_timestep

    if atoms.calc is None:
        raise ValueError("timestep 'auto' needs a calculator attached to the atoms")
    estimate = None
    if isinstance(atoms.calc, EquipotCalculator):
        try:
            estimate = stable_timestep(atoms.calc.model, atoms)
        except (RuntimeError, NotImplementedError):  # a compiled or exported model: no second derivatives
            estimate = None
    if estimate is None:
        estimate = stable_timestep(atoms.calc, atoms)
    return replace(settings, timestep_fs=estimate.recommended_fs), estimate


def integrator_name(dynamics: MolecularDynamics) -> str:
    """``module.Class`` of an ASE integrator, for logs and docs."""
    cls = type(dynamics)
    return f"{cls.__module__}.{cls.__name__}"
