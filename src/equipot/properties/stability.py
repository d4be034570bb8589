"""Stability checks of computed properties: results that look valid but describe an
unstable structure (or a poor model) are reported with an `InstabilityWarning`.

- Born (mechanical) stability: a crystal is stable against small homogeneous strains iff
  its 6x6 Voigt stiffness matrix is positive definite (all eigenvalues > 0); otherwise
  the moduli derived from it (a negative Reuss bulk modulus, say) mean nothing.
- Dynamical stability: imaginary phonon frequencies (reported as negative) beyond the three
  acoustic modes at Γ mean the structure is not at a minimum of the model's energy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IMAGINARY_TOLERANCE_THZ", "InstabilityWarning", "born_stability_message", "imaginary_modes_message"]

#: frequencies above -IMAGINARY_TOLERANCE_THZ count as real: finite-displacement and
#: interpolation noise near Γ is of order 0.01 THz for a converged supercell
IMAGINARY_TOLERANCE_THZ = 0.05


class InstabilityWarning(RuntimeWarning):
    """A property was computed for a structure that is mechanically or dynamically unstable."""


def born_stability_message(matrix: np.ndarray, moduli: dict[str, float] | None = None) -> str | None:
    """None if the symmetric 6x6 Voigt stiffness ``matrix`` (GPa) is positive definite,
    else a message with its smallest eigenvalue and the negative moduli (GPa)."""
    c = 0.5 * (np.asarray(matrix, dtype=np.float64) + np.asarray(matrix, dtype=np.float64).T)
    eigenvalues = np.linalg.eigvalsh(c)
    if eigenvalues.min() > 0:
        return None
    negative = {name: value for name, value in (moduli or {}).items() if value < 0}
    moduli_text = (
        "; negative moduli: " + ", ".join(f"{name} {value:.2f} GPa" for name, value in sorted(negative.items()))
        if negative else ""
    )
    return (
        f"mechanically unstable (Born criterion violated): the elastic matrix has eigenvalues "
        f"{', '.join(f'{e:.2f}' for e in eigenvalues[eigenvalues <= 0])} GPa (smallest {eigenvalues.min():.2f} GPa, "
        f"all must be > 0){moduli_text}. The moduli do not describe a stable crystal: relax the cell with "
        "this potential first, or the potential is poor for this structure"
    )


def imaginary_modes_message(
    qpoints: np.ndarray, frequencies: np.ndarray, tolerance: float = IMAGINARY_TOLERANCE_THZ, where: str = ""
) -> str | None:
    """None if no mode is imaginary, else a message naming the most negative frequency
    (THz) and its q-point.

    ``qpoints`` [n_q, 3] reduced coordinates, ``frequencies`` [n_q, n_branches] THz with
    imaginary ones as negative (phonopy's convention). At Γ (integer q) the three modes of
    smallest magnitude are the acoustic translations and are skipped; any other frequency
    below ``-tolerance`` counts as imaginary.
    """
    q = np.asarray(qpoints, dtype=np.float64).reshape(-1, 3)
    f = np.array(frequencies, dtype=np.float64).reshape(len(q), -1)
    gamma = np.all(np.abs(q - np.round(q)) < 1e-8, axis=1)
    for row in np.flatnonzero(gamma):
        acoustic = np.argsort(np.abs(f[row]))[:3]
        f[row, acoustic] = 0.0
    imaginary = f < -tolerance
    if not imaginary.any():
        return None
    row, branch = np.unravel_index(np.argmin(f), f.shape)
    q_text = "Γ" if gamma[row] else "(" + ", ".join(f"{x:.3f}" for x in q[row]) + ")"
    n_points = int(imaginary.any(axis=1).sum())
    return (
        f"imaginary phonon modes{where}: most negative frequency {f[row, branch]:.3f} THz (branch {branch}) at "
        f"q = {q_text}; {n_points} of {len(q)} q-points have frequencies below -{tolerance:g} THz "
        "(acoustic modes at Γ excluded). The structure is dynamically unstable with this potential: relax it with "
        "this potential first, or the potential is poor for this structure"
    )
