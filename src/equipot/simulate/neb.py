"""Minimum energy paths and barriers by the nudged elastic band (NEB), through `ase.mep.NEB`.

`run_neb` relaxes the two end points (optional), interpolates ``n_images`` intermediate
images (IDPP or linear), gives each image its own calculator, and optimizes the band,
by default with a climbing image so that the highest image sits on the saddle point.
Energies in eV, distances in Å, forces in eV/Å, spring constant in eV/Å².

Example (an Au adatom hopping between hollow sites of Al(100), with EMT)::

    >>> from ase.build import add_adsorbate, fcc100
    >>> from ase.calculators.emt import EMT
    >>> from ase.constraints import FixAtoms
    >>> slab = fcc100("Al", size=(2, 2, 3))
    >>> add_adsorbate(slab, "Au", 1.7, "hollow")
    >>> slab.center(axis=2, vacuum=4.0)
    >>> slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    >>> final = slab.copy()
    >>> final[-1].x += slab.get_cell()[0, 0] / 2
    >>> result = run_neb(slab, final, EMT, n_images=3)
    >>> round(result.barrier_forward, 2)
    0.37
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import covalent_radii
from ase.mep import NEB
from ase.geometry import find_mic
from ase.neighborlist import neighbor_list
from ase.utils.forcecurve import ForceFit, fit_raw

from .monitor import UncertaintyMonitor
from .relax import OPTIMIZERS, RelaxResult, relax

__all__ = ["NEB_METHODS", "NEBResult", "UnphysicalBandError", "band_problems", "calculator_copies", "run_neb"]

NEB_METHODS = ("improvedtangent", "aseneb", "eb", "spline", "string")
INTERPOLATIONS = ("idpp", "linear")

CalculatorSource = BaseCalculator | Callable[[], BaseCalculator]

#: an image this far (eV) below both end points makes the band unphysical: the end points
#: are not the minima the path connects (or the potential collapses), so no barrier
MAX_DROP_BELOW_END_POINTS = 1.0
#: two atoms closer than this fraction of the sum of their covalent radii have collapsed
MIN_DISTANCE_FRACTION = 0.5


class UnphysicalBandError(ValueError):
    """A barrier was asked of a band that `band_problems` found unphysical."""


def band_problems(
    images: list[Atoms],
    energies: np.ndarray,
    max_drop: float = MAX_DROP_BELOW_END_POINTS,
    min_distance_fraction: float = MIN_DISTANCE_FRACTION,
) -> list[str]:
    """Why the band ``images`` (end points included) with ``energies`` (eV) cannot give a
    barrier; empty if nothing is wrong.

    - an intermediate image more than ``max_drop`` eV below both end points;
    - two atoms in an image closer than ``min_distance_fraction`` times the sum of their
      covalent radii (`ase.data.covalent_radii`; minimum image in periodic cells).
    """
    problems = []
    energies = np.asarray(energies, dtype=np.float64)
    floor = min(energies[0], energies[-1])
    drops = floor - energies[1:-1]
    if drops.size and drops.max() > max_drop:
        worst = int(np.argmax(drops)) + 1
        problems.append(
            f"image {worst} lies {drops.max():.3g} eV below both end points (more than {max_drop:g} eV): "
            "the end points are not the minima this path connects, or the potential is unphysical there"
        )
    for index, image in enumerate(images):
        radii = min_distance_fraction * covalent_radii[image.numbers]
        first, second, distance = neighbor_list("ijd", image, radii, self_interaction=False)
        if distance.size:
            pair = int(np.argmin(distance))
            i, j = int(first[pair]), int(second[pair])
            limit = min_distance_fraction * (covalent_radii[image.numbers[i]] + covalent_radii[image.numbers[j]])
            problems.append(
                f"atoms {min(i, j)} ({image[i].symbol if i < j else image[j].symbol}) and {max(i, j)} "
                f"({image[j].symbol if i < j else image[i].symbol}) of image {index} are {distance[pair]:.2f} Å "
                f"apart, less than {min_distance_fraction:g} x the sum of their covalent radii ({limit:.2f} Å): "
                "the structure has collapsed"
            )
            break  # the first collapsed image says enough
    return problems


@dataclass
class NEBResult:
    """A converged (or not) band.

    ``images`` [n_images + 2] are copies of the band, end points included, each carrying
    its energy (eV) and forces (eV/Å) in a `SinglePointCalculator`; ``energies`` their
    potential energies (eV); ``path`` the reaction coordinate, the cumulative distance
    along the band (Å, minimum-image convention for periodic cells); ``fit_path`` (Å) and
    ``fit_energies`` (eV, relative to the initial state) a piecewise cubic through the
    image energies with slopes from the forces projected on the path
    (`ase.utils.forcecurve.fit_raw`, on positions unwrapped along the band). ``max_force`` is the largest NEB force on a
    moving image at the end (eV/Å).

    ``problems`` lists why the band is unphysical (`band_problems`: images far below both
    end points, collapsed atoms); then the barrier properties raise `UnphysicalBandError`
    instead of reporting a number, and `to_dict` gives them as None.
    """

    images: list[Atoms]
    energies: np.ndarray
    path: np.ndarray
    fit_path: np.ndarray
    fit_energies: np.ndarray
    converged: bool
    steps: int
    max_force: float
    fmax: float
    climb: bool
    method: str
    initial_relaxation: RelaxResult | None = None
    final_relaxation: RelaxResult | None = None
    problems: list[str] = field(default_factory=list)
    uncertainty: dict[str, Any] | None = None

    @property
    def reliable(self) -> bool:
        """Whether the band passed `band_problems` (a barrier can be reported)."""
        return not self.problems

    def _check_reliable(self) -> None:
        if self.problems:
            raise UnphysicalBandError("no barrier for this band: " + "; ".join(self.problems))

    @property
    def highest_image(self) -> int:
        """Index of the highest-energy image (0 = initial state)."""
        return int(np.argmax(self.energies))

    @property
    def barrier_forward(self) -> float:
        """Highest image energy minus the initial energy, eV."""
        self._check_reliable()
        return float(np.max(self.energies) - self.energies[0])

    @property
    def barrier_backward(self) -> float:
        """Highest image energy minus the final energy, eV."""
        self._check_reliable()
        return float(np.max(self.energies) - self.energies[-1])

    @property
    def relative_energies(self) -> np.ndarray:
        """Image energies minus the initial energy, eV."""
        return self.energies - self.energies[0]

    @property
    def reaction_energy(self) -> float:
        """Final minus initial energy, eV."""
        return float(self.energies[-1] - self.energies[0])

    @property
    def fit_barrier_forward(self) -> float:
        """Maximum of the fitted path minus the initial energy, eV (without a climbing
        image this estimates the saddle better than the highest image)."""
        self._check_reliable()
        return float(np.max(self.fit_energies))

    def write_images(self, path: str | os.PathLike) -> Path:
        """Write the band (end points included) as extxyz with energies and forces."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # e.g. ``adsorbate_info`` from ase.build: a dict extxyz cannot hold
            warnings.filterwarnings("ignore", message="Skipping unhashable information")
            ase.io.write(path, self.images, format="extxyz")
        return path

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary with the energy profile."""
        reliable = self.reliable
        return {
            "converged": self.converged, "steps": self.steps, "max_force": self.max_force, "fmax": self.fmax,
            "climb": self.climb, "method": self.method, "n_images": len(self.images) - 2,
            "barrier_forward": self.barrier_forward if reliable else None,
            "barrier_backward": self.barrier_backward if reliable else None,
            "reaction_energy": self.reaction_energy,
            "fit_barrier_forward": self.fit_barrier_forward if reliable else None,
            "highest_image": self.highest_image, "energies": self.energies.tolist(), "path": self.path.tolist(),
            "problems": list(self.problems), "uncertainty": self.uncertainty,
        }


def calculator_copies(calculator: CalculatorSource, count: int) -> tuple[list[BaseCalculator], bool]:
    """``count`` calculators for the images of a band, and whether they are one shared object.

    A factory (a class or function called without arguments) is called ``count`` times;
    an `EquipotCalculator` is copied, the copies sharing its model (no extra memory);
    any other calculator instance is shared by all images (correct for serial NEB, at the
    cost of recomputing each image every step).
    """
    from ..calculator import EquipotCalculator

    if isinstance(calculator, EquipotCalculator):
        return [EquipotCalculator(calculator.model, device=calculator.device, dtype=calculator.dtype)
                for _ in range(count)], False
    if isinstance(calculator, BaseCalculator):
        return [calculator] * count, count > 1
    if callable(calculator):
        calculators = [calculator() for _ in range(count)]
        if not all(isinstance(c, BaseCalculator) for c in calculators):
            raise TypeError("run_neb: the calculator factory must return ASE calculators")
        return calculators, False
    raise TypeError(f"run_neb: calculator must be an ASE calculator or a factory of them, got {calculator!r}")


def _check_end_points(initial: Atoms, final: Atoms) -> None:
    if len(initial) != len(final):
        raise ValueError(f"run_neb: initial and final states have {len(initial)} and {len(final)} atoms")
    if initial.get_chemical_symbols() != final.get_chemical_symbols():
        raise ValueError("run_neb: initial and final states must list the same elements in the same order")
    if (initial.pbc != final.pbc).any() or not np.allclose(initial.cell.array, final.cell.array, atol=1e-6):
        raise ValueError("run_neb: initial and final states must have the same cell and pbc")


def _frozen(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` with its current energy and forces stored in a SinglePointCalculator."""
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces)
    return copy


def _fit(images: list[Atoms]) -> ForceFit:
    """`ase.utils.forcecurve.fit_raw` on positions made continuous along the band.

    ``fit_raw`` measures the path with the minimum-image convention but takes the tangents
    from raw position differences; when an atom's path crosses the cell boundary (a hop of
    exactly half a cell goes either way) the raw tangent points across the cell and the
    fit bends the wrong way. Unwrapping each image against the previous one fixes that.
    """
    positions = [images[0].get_positions()]
    for image in images[1:]:
        step = image.get_positions() - positions[-1]
        if image.pbc.any():
            step, _ = find_mic(step, image.cell, image.pbc)
        positions.append(positions[-1] + step)
    energies = [image.get_potential_energy() for image in images]
    forces = [image.get_forces() for image in images]
    return fit_raw(energies, forces, positions, images[0].cell, images[0].pbc)


def run_neb(
    initial: Atoms,
    final: Atoms,
    calculator: CalculatorSource,
    n_images: int = 7,
    climb: bool = True,
    fmax: float = 0.05,
    k: float = 0.1,
    method: str = "improvedtangent",
    interpolate: str = "idpp",
    mic: bool | None = None,
    relax_endpoints: bool = True,
    optimizer: str = "FIRE",
    max_steps: int = 500,
    log_file: str | os.PathLike | None = None,
    monitor: UncertaintyMonitor | None = None,
) -> NEBResult:
    """Find the minimum energy path from ``initial`` to ``final`` (neither is modified).

    Args:
        initial, final: end points with the same atoms in the same order and the same
            cell; constraints (e.g. a fixed slab) are kept on every image.
        calculator: an ASE calculator or a factory of them (see `calculator_copies`).
        n_images: number of intermediate (moving) images.
        climb: the highest image climbs to the saddle point (climbing-image NEB).
        fmax: convergence on the NEB forces, eV/Å; also used for the end points.
        k: spring constant between images, eV/Å².
        method: `ase.mep.NEB` method, one of ``NEB_METHODS``.
        interpolate: initial band, "idpp" (image-dependent pair potential) or "linear".
        mic: minimum-image convention in the interpolation; None: for periodic cells.
        relax_endpoints: relax both end points (positions only) to ``fmax`` first.
        optimizer: "FIRE" (default), "BFGS" or "LBFGS"; ``max_steps`` bounds its steps.
        log_file: the optimizers' text log ("-" for stdout); None writes none.
        monitor: an `UncertaintyMonitor` (built on ``initial`` with the calculator
            attached) that checks the end points during their relaxation and every image
            of the band (end points included) before the first band step and after each
            one (``"band step N, image i"``); ``"stop"`` ends the run with
            `ExtrapolationError` and writes the flagged image out. Its summary (largest
            uncertainties over all images) is the result's ``uncertainty``.

    The result is checked by `band_problems`; an unphysical band has ``problems`` and
    reports no barrier (see `NEBResult`).
    """
    if n_images < 1:
        raise ValueError(f"run_neb: n_images must be at least 1, got {n_images}")
    if method not in NEB_METHODS:
        raise ValueError(f"run_neb: method must be one of {NEB_METHODS}, got {method!r}")
    if interpolate not in INTERPOLATIONS:
        raise ValueError(f"run_neb: interpolate must be one of {INTERPOLATIONS}, got {interpolate!r}")
    if optimizer.upper() not in OPTIMIZERS:
        raise ValueError(f"run_neb: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    if not fmax > 0:
        raise ValueError(f"run_neb: fmax must be positive (eV/Å), got {fmax}")
    _check_end_points(initial, final)
    calculators, shared = calculator_copies(calculator, n_images + 2)
    logfile = str(log_file) if log_file is not None else None
    images = [initial.copy() for _ in range(n_images + 1)] + [final.copy()]
    for image, image_calculator in zip(images, calculators):
        image.calc = image_calculator
    relaxations: list[RelaxResult | None] = [None, None]
    if relax_endpoints:
        relaxations = [relax(images[index], fmax=fmax, optimizer=optimizer, max_steps=max_steps,
                             log_file=logfile, monitor=monitor) for index in (0, -1)]
    band = NEB(images, k=k, climb=climb, method=method, allow_shared_calculator=shared)
    band.interpolate(method=interpolate, mic=bool(initial.pbc.any()) if mic is None else mic, apply_constraint=False)
    with OPTIMIZERS[optimizer.upper()](band, logfile=logfile) as dynamics:
        if monitor is not None:
            def check_band() -> None:
                for index, image in enumerate(images):
                    monitor.observe(image, f"band step {dynamics.nsteps}, image {index}")

            dynamics.attach(check_band, interval=1)
        converged = bool(dynamics.run(fmax=fmax, steps=max_steps))
        steps = dynamics.nsteps
    max_force = float(band.get_residual())
    frozen = [_frozen(image) for image in images]
    fit = _fit(frozen)
    energies = np.array([image.get_potential_energy() for image in frozen])
    return NEBResult(
        images=frozen, energies=energies, problems=band_problems(frozen, energies),
        path=np.asarray(fit.path, dtype=np.float64), fit_path=np.asarray(fit.fit_path, dtype=np.float64),
        fit_energies=np.asarray(fit.fit_energies, dtype=np.float64), converged=converged, steps=int(steps),
        max_force=max_force, fmax=float(fmax), climb=climb, method=method,
        initial_relaxation=relaxations[0], final_relaxation=relaxations[1],
        uncertainty=monitor.summary() if monitor is not None else None,
    )
