"""The largest stable velocity-Verlet time step from the stiffest harmonic mode.

Velocity Verlet on a harmonic mode of angular frequency ``omega`` is stable only for
``dt < 2 / omega``; the stiffest mode of a structure is the largest eigenvalue
``omega_max^2`` of its mass-weighted Hessian. At the limit the trajectory is wildly
inaccurate, so we recommend ``dt = fraction x 2 / omega_max`` with ``fraction = 0.15``:
about 1/21 of the shortest vibrational period ``2 pi / omega_max``, within the usual
"10-20 steps per period" rule and close to common practice (0.5 fs for C-H stretches at
~3000 cm^-1, 2-5 fs for Cu). The estimate is harmonic: a hot, anharmonic system can visit
stiffer regions, so keep a margin. For a periodic cell the Hessian of the MD cell itself
is what matters (use the same cell you simulate).

Example::

    >>> from ase.build import molecule
    >>> from ase.calculators.emt import EMT
    >>> estimate = stable_timestep(EMT(), molecule("H2O"))     # doctest: +SKIP
    >>> estimate.recommended_fs                                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units

from ._source import EnergySource
from .hessian import hessian_of
from .vibrations import CM_PER_SQRT_EV_PER_A2_AMU

__all__ = ["SAFETY_FRACTION", "TimestepEstimate", "stable_timestep", "timestep_from_hessian"]

#: recommended fraction of the stability limit 2 / omega_max (about 1/21 of the shortest period)
SAFETY_FRACTION = 0.15


@dataclass
class TimestepEstimate:
    """Time-step limits of a structure (times in fs).

    - ``omega_max``: largest angular frequency, rad/fs; ``max_frequency_cm`` the same in cm^-1
    - ``period_fs``: shortest vibrational period ``2 pi / omega_max``
    - ``stability_limit_fs``: ``2 / omega_max``; velocity Verlet diverges above it
    - ``recommended_fs``: ``fraction x stability_limit_fs``
    """

    omega_max: float
    max_frequency_cm: float
    period_fs: float
    stability_limit_fs: float
    recommended_fs: float
    fraction: float
    hessian_method: str


def timestep_from_hessian(
    hessian: np.ndarray, masses: np.ndarray, fraction: float = SAFETY_FRACTION, hessian_method: str = "given"
) -> TimestepEstimate:
    """Estimate from a Hessian [3N, 3N] (eV/Å²) and ``masses`` [N] (amu)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    masses = np.asarray(masses, dtype=np.float64)
    hessian = np.asarray(hessian, dtype=np.float64)
    if hessian.shape != (3 * len(masses), 3 * len(masses)):
        raise ValueError(f"hessian must have shape [3N, 3N] for N = {len(masses)} masses, got {hessian.shape}")
    inverse_root = np.repeat(1.0 / np.sqrt(masses), 3)
    weighted = inverse_root[:, None] * hessian * inverse_root[None, :]
    largest = float(np.linalg.eigvalsh(0.5 * (weighted + weighted.T))[-1])
    if largest <= 0:
        raise ValueError("the Hessian has no positive eigenvalue: no vibration limits the time step")
    omega = np.sqrt(largest) * units.fs  # sqrt(eV/(Å² amu)) is 1/(ASE time unit); x units.fs -> rad/fs
    limit = 2.0 / omega
    return TimestepEstimate(
        omega_max=float(omega), max_frequency_cm=float(np.sqrt(largest) * CM_PER_SQRT_EV_PER_A2_AMU),
        period_fs=float(2 * np.pi / omega), stability_limit_fs=float(limit), recommended_fs=float(fraction * limit),
        fraction=fraction, hessian_method=hessian_method,
    )


def stable_timestep(
    source: EnergySource, atoms: Atoms, fraction: float = SAFETY_FRACTION, delta: float | None = None
) -> TimestepEstimate:
    """Estimate for ``atoms`` from the exact Hessian of a model (finite differences with
    step ``delta`` Å for a calculator); ``atoms.get_masses()`` gives the masses."""
    result = hessian_of(source, atoms, delta=delta)
    return timestep_from_hessian(result.matrix, atoms.get_masses(), fraction, result.method)
