"""Harmonic vibrations: mass-weighted Hessian, frequencies (cm^-1), normal modes, and the
count of zero modes checked against the geometry.

The mass-weighted Hessian ``D = M^-1/2 H M^-1/2`` (eV/(Å² amu)) has eigenvalues
``omega^2``; a frequency is ``omega / (2 pi c)`` in cm^-1, negative for an imaginary mode
(``omega^2 < 0``). Translations (3) and, for a molecule, rotations (3, or 2 if linear)
have zero frequency at a stationary point; a periodic cell has 3 (its acoustic modes at
Gamma). With ``project=True`` these external motions are removed exactly (Eckart
projection: ``D`` is diagonalized in the orthogonal complement of the mass-weighted
translations/rotations, and the external modes are reported as exact zeros); the
zero-mode count is always checked on the unprojected matrix.

Example::

    >>> from ase.build import molecule
    >>> from ase.calculators.emt import EMT
    >>> result = vibrations(EMT(), molecule("H2O"))          # doctest: +SKIP
    >>> result.internal_frequencies_cm                         # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units

from ._source import EnergySource, check_atoms
from .figures import frequency_spectrum_plot
from .hessian import hessian_of

__all__ = [
    "CM_PER_SQRT_EV_PER_A2_AMU",
    "ZERO_TOLERANCE_CM",
    "ModeMatch",
    "VibrationResult",
    "expected_zero_modes",
    "external_basis",
    "match_modes",
    "vibrational_analysis",
    "vibrations",
    "write_mode_animation",
    "write_vibration_files",
]

#: cm^-1 per sqrt(eV / (Å² amu)): frequency = this x sqrt(eigenvalue of the mass-weighted Hessian)
CM_PER_SQRT_EV_PER_A2_AMU = float(np.sqrt(units._e / units._amu) * 1e10 / (2 * np.pi * units._c * 100))
#: |frequency| below which a mode counts as zero (translations, rotations), cm^-1
ZERO_TOLERANCE_CM = 30.0


@dataclass
class VibrationResult:
    """Normal modes of a structure, sorted by eigenvalue (imaginary modes first).

    - ``eigenvalues`` [3N], eV/(Å² amu), of the mass-weighted Hessian
    - ``frequencies_cm`` [3N], cm^-1; negative numbers are imaginary frequencies
    - ``modes`` [3N, N, 3]: Cartesian displacement pattern of each mode, unit norm
    - ``mass_weighted_modes`` [3N, 3N]: orthonormal eigenvectors (one per row)
    - ``hessian`` [3N, 3N], eV/Å², and ``hessian_method`` (see `HessianResult`)
    - ``geometry``: ``"atom"``, ``"linear"``, ``"nonlinear"`` or ``"periodic"``
    - ``n_zero_expected`` / ``n_zero_found``: zero modes expected from the geometry and
      found (|frequency| < ``zero_tolerance_cm``) in the unprojected Hessian
    - ``n_imaginary``: modes with frequency below ``-zero_tolerance_cm``
    - ``projected``: whether translations/rotations were projected out
    - ``messages``: the warnings issued (empty when the checks passed)
    """

    atoms: Atoms
    eigenvalues: np.ndarray
    frequencies_cm: np.ndarray
    modes: np.ndarray
    mass_weighted_modes: np.ndarray
    hessian: np.ndarray
    hessian_method: str
    geometry: str
    n_zero_expected: int
    n_zero_found: int
    n_imaginary: int
    zero_tolerance_cm: float
    projected: bool
    messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the zero-mode count matches and no imaginary modes appeared."""
        return not self.messages

    @property
    def internal_frequencies_cm(self) -> np.ndarray:
        """[3N - n_zero_expected] frequencies without the expected zero modes (the ones
        closest to zero are dropped), ascending, cm^-1."""
        keep = np.sort(np.argsort(np.abs(self.frequencies_cm))[self.n_zero_expected :])
        return self.frequencies_cm[keep]

    def to_json(self, path: str | os.PathLike) -> Path:
        """Frequencies, checks and the Hessian as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "symbols": self.atoms.get_chemical_symbols(),
            "frequencies_cm": self.frequencies_cm.tolist(),
            "eigenvalues_eV_per_A2_amu": self.eigenvalues.tolist(),
            "geometry": self.geometry,
            "n_zero_expected": self.n_zero_expected,
            "n_zero_found": self.n_zero_found,
            "n_imaginary": self.n_imaginary,
            "zero_tolerance_cm": self.zero_tolerance_cm,
            "projected": self.projected,
            "hessian_method": self.hessian_method,
            "messages": self.messages,
            "hessian_eV_per_A2": self.hessian.tolist(),
        }
        path.write_text(json.dumps(data, indent=1))
        return path

    def write_csv(self, path: str | os.PathLike) -> Path:
        """``mode, frequency_cm, eigenvalue`` per line."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mode", "frequency_cm", "eigenvalue_eV_per_A2_amu"])
            for index, (frequency, value) in enumerate(zip(self.frequencies_cm, self.eigenvalues)):
                writer.writerow([index, f"{frequency:.6f}", f"{value:.10e}"])
        return path


def expected_zero_modes(atoms: Atoms) -> tuple[int, str]:
    """Number of zero modes and the geometry: 3 for a single atom or any periodic cell,
    5 for a linear molecule, 6 for a nonlinear one."""
    if atoms.pbc.any():
        return 3, "periodic"
    if len(atoms) == 1:
        return 3, "atom"
    centered = atoms.positions - atoms.positions.mean(axis=0)
    singular = np.linalg.svd(centered, compute_uv=False)
    if singular[1] < 1e-3 * max(float(singular[0]), 1.0):
        return 5, "linear"
    return 6, "nonlinear"


def external_basis(atoms: Atoms, mass_weighted: bool = True) -> np.ndarray:
    """[k, 3N] orthonormal translations (and rotations about the centre of mass, for a
    non-periodic structure), in mass-weighted coordinates or, with
    ``mass_weighted=False``, Cartesian ones; k = the expected number of zero modes."""
    masses = atoms.get_masses()
    root = np.sqrt(masses) if mass_weighted else np.ones(len(atoms))
    vectors = []
    for axis in np.eye(3):
        vectors.append((root[:, None] * axis[None, :]).reshape(-1))
    if not atoms.pbc.any():
        centered = atoms.positions - atoms.get_center_of_mass()
        for axis in np.eye(3):
            vectors.append((root[:, None] * np.cross(axis[None, :], centered)).reshape(-1))
    u, s, _ = np.linalg.svd(np.array(vectors).T, full_matrices=False)
    return u[:, s > 1e-6 * s.max()].T


def _frequencies_cm(eigenvalues: np.ndarray) -> np.ndarray:
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * CM_PER_SQRT_EV_PER_A2_AMU


def _projected_eigensystem(weighted: np.ndarray, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of ``weighted`` with the external motions removed (exact zeros)."""
    external = external_basis(atoms)
    q, _ = np.linalg.qr(external.T, mode="complete")
    internal = q[:, external.shape[0] :]
    values, vectors = np.linalg.eigh(internal.T @ weighted @ internal)
    all_values = np.concatenate([np.zeros(external.shape[0]), values])
    all_vectors = np.concatenate([external.T, internal @ vectors], axis=1)
    order = np.argsort(all_values, kind="stable")
    return all_values[order], all_vectors[:, order]


def _check(frequencies: np.ndarray, expected: int, geometry: str, tolerance: float) -> tuple[int, int, list[str]]:
    found = int(np.sum(np.abs(frequencies) < tolerance))
    imaginary = frequencies[frequencies <= -tolerance]
    messages = []
    if found != expected:
        messages.append(
            f"found {found} zero modes (|frequency| < {tolerance:g} cm^-1), expected {expected} for a "
            f"{geometry} structure: relax it further (fmax <= 1e-3 eV/Å) or check the Hessian"
        )
    if imaginary.size:
        messages.append(
            f"{imaginary.size} imaginary mode(s) beyond the zero modes (lowest {imaginary.min():.1f} cm^-1): "
            "the structure is not a minimum"
        )
    return found, int(imaginary.size), messages


def _warn(messages: list[str]) -> None:
    for message in messages:
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def vibrational_analysis(
    hessian: np.ndarray,
    atoms: Atoms,
    project: bool = False,
    zero_tolerance_cm: float = ZERO_TOLERANCE_CM,
    hessian_method: str = "given",
) -> VibrationResult:
    """Normal modes from a Hessian [3N, 3N] (eV/Å²) of ``atoms``; warns (`RuntimeWarning`,
    also kept in ``result.messages``) when the zero-mode count is off or imaginary modes
    appear."""
    result = _analyse(hessian, atoms, project, zero_tolerance_cm, hessian_method)
    _warn(result.messages)
    return result


def _analyse(
    hessian: np.ndarray, atoms: Atoms, project: bool, zero_tolerance_cm: float, hessian_method: str
) -> VibrationResult:
    check_atoms(atoms)
    n = 3 * len(atoms)
    hessian = np.asarray(hessian, dtype=np.float64)
    if hessian.shape != (n, n):
        raise ValueError(f"hessian must have shape [3N, 3N] = [{n}, {n}] for {len(atoms)} atoms, got {hessian.shape}")
    inverse_root = np.repeat(1.0 / np.sqrt(atoms.get_masses()), 3)
    weighted = inverse_root[:, None] * hessian * inverse_root[None, :]
    weighted = 0.5 * (weighted + weighted.T)
    raw_values, raw_vectors = np.linalg.eigh(weighted)
    expected, geometry = expected_zero_modes(atoms)
    found, n_imaginary, messages = _check(_frequencies_cm(raw_values), expected, geometry, zero_tolerance_cm)
    values, vectors = _projected_eigensystem(weighted, atoms) if project else (raw_values, raw_vectors)
    cartesian = (inverse_root[:, None] * vectors).T.reshape(n, len(atoms), 3)
    cartesian /= np.linalg.norm(cartesian.reshape(n, -1), axis=1)[:, None, None]
    return VibrationResult(
        atoms=atoms.copy(), eigenvalues=values, frequencies_cm=_frequencies_cm(values), modes=cartesian,
        mass_weighted_modes=vectors.T.copy(), hessian=hessian, hessian_method=hessian_method, geometry=geometry,
        n_zero_expected=expected, n_zero_found=found, n_imaginary=n_imaginary,
        zero_tolerance_cm=zero_tolerance_cm, projected=project, messages=messages,
    )


def vibrations(
    source: EnergySource,
    atoms: Atoms,
    delta: float | None = None,
    project: bool = False,
    zero_tolerance_cm: float = ZERO_TOLERANCE_CM,
) -> VibrationResult:
    """Vibrations of ``atoms`` (relax it first): the exact Hessian for an equipot model,
    central finite differences of the forces (step ``delta`` Å, default 1e-3) for an ASE
    calculator or when ``delta`` is given. See `vibrational_analysis`."""
    hessian = hessian_of(source, atoms, delta=delta)
    result = _analyse(hessian.matrix, atoms, project, zero_tolerance_cm, hessian.method)
    _warn(result.messages)
    return result


@dataclass
class ModeMatch:
    """Normal modes of a model paired with those of a reference at the same geometry, by
    eigenvector (see `match_modes`). All arrays run over the M = 3N - k internal modes
    (k translations/rotations projected out), in the order of the reference's frequencies.

    - ``reference_frequencies_cm`` [M], ascending, and ``model_frequencies_cm`` [M], the
      model mode matched to each, cm^-1 (negative: imaginary)
    - ``model_index`` [M]: which of the model's internal modes (ascending order) each is
    - ``overlaps`` [M]: |<u_model|u_ref>|^2 of each pair of unit mass-weighted eigenvectors
      (1: the same motion)
    - ``sorted_model_frequencies_cm`` [M]: the model's internal frequencies, ascending (the
      pairing by rank that ignores what the modes are)
    """

    reference_frequencies_cm: np.ndarray
    model_frequencies_cm: np.ndarray
    model_index: np.ndarray
    overlaps: np.ndarray
    sorted_model_frequencies_cm: np.ndarray

    @property
    def errors_cm(self) -> np.ndarray:
        """[M] model minus reference frequency of each matched pair, cm^-1."""
        return self.model_frequencies_cm - self.reference_frequencies_cm

    @property
    def mae_cm(self) -> float:
        """Mean absolute frequency error over the matched modes, cm^-1."""
        return float(np.abs(self.errors_cm).mean())

    @property
    def max_error_cm(self) -> float:
        """Largest absolute frequency error over the matched modes, cm^-1."""
        return float(np.abs(self.errors_cm).max())

    @property
    def sorted_errors_cm(self) -> np.ndarray:
        """[M] errors when the frequencies are paired by rank (both sorted), cm^-1."""
        return self.sorted_model_frequencies_cm - self.reference_frequencies_cm

    @property
    def sorted_mae_cm(self) -> float:
        """Mean absolute error of the pairing by rank, cm^-1 (at most `mae_cm`)."""
        return float(np.abs(self.sorted_errors_cm).mean())


def _internal_eigensystem(result: VibrationResult, internal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues [M] and eigenvectors [M, M] (columns) of ``result``'s mass-weighted
    Hessian in the internal basis ``internal`` [3N, M]."""
    inverse_root = np.repeat(1.0 / np.sqrt(result.atoms.get_masses()), 3)
    weighted = inverse_root[:, None] * result.hessian * inverse_root[None, :]
    reduced = internal.T @ (0.5 * (weighted + weighted.T)) @ internal
    return np.linalg.eigh(reduced)


def match_modes(model: VibrationResult, reference: VibrationResult, position_tolerance: float = 1e-3) -> ModeMatch:
    """Pair each reference normal mode with one model mode by the largest overlap of their
    mass-weighted eigenvectors, so that a frequency error compares the same motion.

    Both Hessians must be of the same structure at the same geometry (for a model against a
    reference method: the model's Hessian at the reference minimum, e.g.
    ``vibrations(model, reference_minimum)``). Translations and rotations (translations
    only for a periodic cell) are projected out of both; the pairing is the assignment that
    maximizes the summed overlaps |<u_model|u_ref>|^2 (Hungarian algorithm,
    `scipy.optimize.linear_sum_assignment`). Pairing by rank instead (both lists sorted)
    shifts every pair past a mode the model puts in the wrong place, e.g. an imaginary
    torsion; `ModeMatch.sorted_mae_cm` keeps that figure for comparison.

    Example::

        >>> match = match_modes(vibrations(model, minimum), vibrations(TBLite(), minimum))  # doctest: +SKIP
        >>> match.mae_cm, match.sorted_mae_cm                                                 # doctest: +SKIP
    """
    from scipy.optimize import linear_sum_assignment

    if len(model.atoms) != len(reference.atoms) or (model.atoms.numbers != reference.atoms.numbers).any():
        raise ValueError(
            f"model and reference are different structures ({model.atoms.get_chemical_formula()} with "
            f"{len(model.atoms)} atoms vs {reference.atoms.get_chemical_formula()} with {len(reference.atoms)}): "
            "compute both vibrations of the same atoms"
        )
    if not np.allclose(model.atoms.get_masses(), reference.atoms.get_masses()):
        raise ValueError("model and reference atoms have different masses: use the same masses for both")
    shift = float(np.abs(model.atoms.positions - reference.atoms.positions).max())
    if shift > position_tolerance:
        raise ValueError(
            f"model and reference geometries differ by up to {shift:.3g} Å (> position_tolerance "
            f"{position_tolerance:g} Å): take the model's Hessian at the reference geometry, "
            "e.g. vibrations(model, reference.atoms)"
        )
    external = external_basis(reference.atoms)
    q, _ = np.linalg.qr(external.T, mode="complete")
    internal = q[:, external.shape[0] :]
    reference_values, reference_vectors = _internal_eigensystem(reference, internal)
    model_values, model_vectors = _internal_eigensystem(model, internal)
    overlaps = (reference_vectors.T @ model_vectors) ** 2  # [reference mode, model mode]
    rows, columns = linear_sum_assignment(overlaps, maximize=True)
    model_index = columns[np.argsort(rows)]
    model_frequencies = _frequencies_cm(model_values)
    return ModeMatch(
        reference_frequencies_cm=_frequencies_cm(reference_values),
        model_frequencies_cm=model_frequencies[model_index],
        model_index=model_index,
        overlaps=overlaps[np.arange(len(model_index)), model_index],
        sorted_model_frequencies_cm=model_frequencies,
    )


def write_mode_animation(
    result: VibrationResult, mode: int, path: str | os.PathLike, amplitude: float = 0.3, n_frames: int = 24
) -> Path:
    """One period of ``mode`` as an extxyz trajectory: ``n_frames`` frames of
    ``r + sin(2 pi k / n_frames) x d``, the largest atomic displacement ``amplitude`` Å.
    Each frame's info holds ``mode`` and ``frequency_cm``."""
    if not 0 <= mode < len(result.frequencies_cm):
        raise ValueError(f"mode must be in [0, {len(result.frequencies_cm)}), got {mode}")
    pattern = result.modes[mode]
    pattern = pattern * amplitude / max(float(np.linalg.norm(pattern, axis=1).max()), 1e-12)
    frames = []
    for k in range(n_frames):
        frame = result.atoms.copy()
        frame.calc = None
        frame.positions = result.atoms.positions + np.sin(2 * np.pi * k / n_frames) * pattern
        frame.info.update(mode=mode, frequency_cm=float(result.frequencies_cm[mode]))
        frames.append(frame)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames, format="extxyz")
    return path


def write_vibration_files(result: VibrationResult, out_dir: str | os.PathLike, amplitude: float = 0.3) -> dict[str, Path]:
    """``frequencies.csv``, ``vibrations.json`` (with the Hessian), ``spectrum.png`` and one
    ``modes/mode_XXX.extxyz`` animation per mode in ``out_dir``."""
    out = Path(out_dir)
    files = {
        "frequencies.csv": result.write_csv(out / "frequencies.csv"),
        "vibrations.json": result.to_json(out / "vibrations.json"),
        "spectrum.png": frequency_spectrum_plot(result.frequencies_cm, out / "spectrum.png", title="harmonic frequencies"),
    }
    for mode in range(len(result.frequencies_cm)):
        files[f"mode_{mode:03d}"] = write_mode_animation(result, mode, out / "modes" / f"mode_{mode:03d}.extxyz", amplitude)
    return files
