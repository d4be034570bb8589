"""Which ASE integrator runs each ensemble, and its construction from plain-unit settings.

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
from typing import Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.md import MolecularDynamics

from ..data import check_cell_volume

__all__ = ["BAROSTATS", "ENSEMBLES", "THERMOSTATS", "check_npt_structure", "integrator_name", "make_dynamics"]

Ensemble = Literal["nve", "nvt", "npt"]
ENSEMBLES: tuple[str, ...] = ("nve", "nvt", "npt")
THERMOSTATS: tuple[str, ...] = ("langevin", "nose-hoover")
BAROSTATS: tuple[str, ...] = ("mtk", "langevin")


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


def _positive(name: str, label: str, value: float | None) -> float:
    if value is None or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: {label} must be a positive number, got {value}")
    return float(value)


def make_dynamics(
    atoms: Atoms,
    ensemble: str,
    timestep_fs: float,
    temperature_K: float | None,
    *,
    friction_per_fs: float = 0.01,
    thermostat: str = "langevin",
    pressure_GPa: float = 0.0,
    barostat: str = "mtk",
    anisotropic: bool = False,
    tdamp_fs: float = 100.0,
    pdamp_fs: float = 1000.0,
    seed: int = 0,
    name: str = "run_md",
) -> Callable[[], MolecularDynamics]:
    """Check the settings now; return a function that builds the ASE integrator for ``ensemble``.

    Call the returned function *after* the initial velocities are drawn: the MTK
    integrators copy positions and momenta when constructed. ``temperature_K`` is the
    thermostat's target (required for ``nvt`` and ``npt``); ``tdamp_fs`` is the
    Nose-Hoover damping time, ``pdamp_fs`` the barostat's (ASE suggests about 100 and 1000
    time steps); the Langevin friction is ``friction_per_fs`` (0.01/fs = 10/ps, a
    relaxation time of 100 fs). Stochastic integrators draw from
    ``np.random.default_rng([seed, 1])``. Raises ValueError, naming ``name``, for bad
    settings or an NPT run on a structure without a 3D cell.
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"{name}: ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    timestep = timestep_fs * units.fs
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return lambda: VelocityVerlet(atoms, timestep=timestep)
    target = _positive(name, f"temperature_K (the {ensemble.upper()} target)", temperature_K)
    rng = np.random.default_rng([seed, 1])
    if ensemble == "nvt":
        if thermostat not in THERMOSTATS:
            raise ValueError(f"{name}: thermostat must be one of {THERMOSTATS}, got {thermostat!r}")
        if thermostat == "langevin":
            from ase.md.langevin import Langevin

            friction = _positive(name, "friction_per_fs", friction_per_fs) / units.fs
            return lambda: Langevin(atoms, timestep, temperature_K=target, friction=friction, fixcm=False, rng=rng)
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        tdamp = _positive(name, "tdamp_fs", tdamp_fs) * units.fs
        return lambda: NoseHooverChainNVT(atoms, timestep, temperature_K=target, tdamp=tdamp)
    if barostat not in BAROSTATS:
        raise ValueError(f"{name}: barostat must be one of {BAROSTATS}, got {barostat!r}")
    if not math.isfinite(pressure_GPa):
        raise ValueError(f"{name}: pressure_GPa must be finite, got {pressure_GPa}")
    pdamp = _positive(name, "pdamp_fs", pdamp_fs) * units.fs
    check_npt_structure(atoms, name)
    pressure = pressure_GPa * units.GPa  # eV/Å³
    if barostat == "mtk":
        from ase.md.nose_hoover_chain import IsotropicMTKNPT, MTKNPT

        if atoms.constraints:
            raise ValueError(f"{name}: the MTK barostat does not support constraints; use barostat='langevin'")
        integrator = MTKNPT if anisotropic else IsotropicMTKNPT
        tdamp = _positive(name, "tdamp_fs", tdamp_fs) * units.fs
        return lambda: integrator(atoms, timestep, temperature_K=target, pressure_au=pressure, tdamp=tdamp,
                                  pdamp=pdamp)
    from ase.md.langevinbaoab import LangevinBAOAB

    t_tau = units.fs / _positive(name, "friction_per_fs", friction_per_fs)

    def langevin_baoab() -> MolecularDynamics:
        with warnings.catch_warnings():  # the barostat mass comes from P_tau by ASE's heuristic, as intended
            warnings.filterwarnings("ignore", message="Using heuristic P_mass")
            return LangevinBAOAB(atoms, timestep, temperature_K=target, externalstress=-pressure,
                                 hydrostatic=not anisotropic, T_tau=t_tau, P_tau=pdamp, rng=rng)

    return langevin_baoab


def integrator_name(dynamics: MolecularDynamics) -> str:
    """``module.Class`` of an ASE integrator, for logs and docs."""
    cls = type(dynamics)
    return f"{cls.__module__}.{cls.__name__}"
