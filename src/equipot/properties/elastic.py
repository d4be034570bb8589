"""The 6x6 Voigt elastic tensor ``C_ij = d sigma_i / d epsilon_j`` (GPa) and the Voigt,
Reuss and Hill bulk and shear moduli.

Strains are Voigt vectors ``(e_xx, e_yy, e_zz, 2 e_yz, 2 e_xz, 2 e_xy)`` (engineering
shears); a strained cell is ``cell @ (I + e)`` with atoms scaled along. Stress is ASE's
(positive in tension), so ``C`` is positive definite for a stable crystal. Central
differences of the stress (step ``strain``) work with any ASE calculator; with
``relax_ions=True`` the atoms are relaxed at every strained cell (and at the reference),
giving the relaxed-ion tensor. For an equipot model, `elastic_tensor_autograd` gives the
clamped-ion tensor by differentiating the model's stress with respect to strain.

Start from a relaxed cell: at a residual stress ``sigma_0`` the stress derivative differs
from the thermodynamic elastic constants by terms of order ``sigma_0`` and is not exactly
symmetric; both are reported. A matrix that is not positive definite (a mechanically
unstable cell, Born criterion) warns with an `InstabilityWarning` giving its smallest
eigenvalue and the negative moduli.

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> result = elastic_tensor(EMT(), bulk("Cu", a=3.5899))          # doctest: +SKIP
    >>> result.cubic()                                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.optimize import BFGS, FIRE

from ..data import check_cell_volume, graph_from_atoms
from ..models import Potential
from ..o3.voigt import VOIGT_NAMES, VOIGT_PAIRS, voigt_from_matrix
from ._source import EnergySource, as_calculator, attach, check_atoms
from .figures import elastic_matrix_plot
from .stability import InstabilityWarning, born_stability_message

__all__ = [
    "ElasticResult",
    "elastic_moduli",
    "elastic_tensor",
    "elastic_tensor_autograd",
    "strain_matrix",
    "write_elastic_files",
]

OPTIMIZERS = {"BFGS": BFGS, "FIRE": FIRE}


def strain_matrix(voigt: np.ndarray) -> np.ndarray:
    """[3, 3] symmetric strain tensor of a Voigt strain [6] with engineering shears."""
    voigt = np.asarray(voigt, dtype=np.float64)
    e = np.diag(voigt[:3])
    for index, (i, j) in enumerate(VOIGT_PAIRS[3:], start=3):
        e[i, j] = e[j, i] = voigt[index] / 2.0
    return e


def elastic_moduli(matrix: np.ndarray) -> dict[str, float]:
    """Bulk (K) and shear (G) moduli of a 6x6 Voigt matrix, in its unit: Voigt (upper
    bound), Reuss (lower bound, from the compliance ``C^-1``) and Hill (their mean)."""
    c = np.asarray(matrix)
    s = np.linalg.inv(c)
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9
    g_v = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[0, 2] + c[1, 2]) + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    k_r = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[0, 2] + s[1, 2]))
    g_r = 15 / (
        4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[0, 2] + s[1, 2]) + 3 * (s[3, 3] + s[4, 4] + s[5, 5])
    )
    moduli = {"bulk_voigt": k_v, "bulk_reuss": k_r, "shear_voigt": g_v, "shear_reuss": g_r}
    moduli["bulk_hill"] = (k_v + k_r) / 2
    moduli["shear_hill"] = (g_v + g_r) / 2
    return {name: float(value) for name, value in moduli.items()}


@dataclass
class ElasticResult:
    """An elastic tensor and its checks.

    - ``matrix`` [6, 6], GPa, symmetrized ``(C + C^T) / 2``; ``raw`` before symmetrizing
    - ``max_asymmetry``: ``max |C - C^T|``, GPa
    - ``moduli``: see `elastic_moduli`, GPa
    - ``reference_stress`` [6], GPa, Voigt stress of the unstrained structure
    - ``method``: ``"finite-differences"`` or ``"autograd"``; ``relaxed_ions``; ``strain``
    - ``messages``: the warnings issued
    - ``min_eigenvalue``: smallest eigenvalue of ``matrix``, GPa; the crystal is
      mechanically stable (Born criterion) iff it is positive (`mechanically_stable`)
    """

    matrix: np.ndarray
    raw: np.ndarray
    max_asymmetry: float
    moduli: dict[str, float]
    reference_stress: np.ndarray
    method: str
    relaxed_ions: bool
    strain: float
    messages: list[str] = field(default_factory=list)
    min_eigenvalue: float = float("nan")

    @property
    def mechanically_stable(self) -> bool:
        """Whether every eigenvalue of ``matrix`` is positive (Born stability)."""
        return self.min_eigenvalue > 0

    def cubic(self) -> dict[str, float]:
        """C11, C12, C44 (GPa) averaged over the entries a cubic crystal makes equal."""
        c = self.matrix
        return {
            "C11": float(np.mean(np.diag(c)[:3])),
            "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean(np.diag(c)[3:])),
        }

    def to_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        data["units"] = "GPa"
        path.write_text(json.dumps(data, indent=1))
        return path


def _finish(
    raw: np.ndarray,
    reference: np.ndarray,
    method: str,
    relaxed: bool,
    strain: float,
    tolerance: float,
    stress_tolerance: float,
) -> ElasticResult:
    """Symmetrize, check and wrap a raw tensor (GPa); warnings are issued here."""
    asymmetry = float(np.abs(raw - raw.T).max())
    messages = []
    if asymmetry > tolerance:
        messages.append(
            f"elastic matrix is not symmetric: max |C_ij - C_ji| = {asymmetry:.3g} GPa > {tolerance:g} GPa "
            "(relax the cell, tighten fmax, or change the strain step)"
        )
    if np.abs(reference).max() > stress_tolerance:
        messages.append(
            f"the reference cell is under stress (max |sigma| = {np.abs(reference).max():.3g} GPa > "
            f"{stress_tolerance:g} GPa): relax the cell first; C is off by terms of that order"
        )
    for message in messages:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    matrix = 0.5 * (raw + raw.T)
    try:
        moduli = elastic_moduli(matrix)
    except np.linalg.LinAlgError:
        moduli = {}
    unstable = born_stability_message(matrix, moduli)
    if unstable is not None:
        messages.append(unstable)
        warnings.warn(unstable, InstabilityWarning, stacklevel=3)
    min_eigenvalue = float(np.linalg.eigvalsh(matrix).min())
    return ElasticResult(matrix, raw, asymmetry, moduli, reference, method, relaxed, strain, messages, min_eigenvalue)


def _relax(atoms: Atoms, optimizer: str, fmax: float, max_steps: int) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    converged = OPTIMIZERS[optimizer](atoms, logfile=None).run(fmax=fmax, steps=max_steps)
    if not converged:
        message = f"ionic relaxation did not reach fmax = {fmax} eV/Å in {max_steps} steps"
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def elastic_tensor(
    source: EnergySource,
    atoms: Atoms,
    strain: float = 0.005,
    relax_ions: bool = False,
    fmax: float = 1e-4,
    optimizer: str = "BFGS",
    max_steps: int = 1000,
    asymmetry_tolerance: float = 1.0,
    stress_tolerance: float = 0.1,
) -> ElasticResult:
    """The elastic tensor of a periodic cell from central differences of the stress:
    ``C[:, j] = (sigma(+strain e_j) - sigma(-strain e_j)) / (2 strain)``, 12 stress
    evaluations (each preceded by an ionic relaxation to ``fmax`` eV/Å with ASE's
    ``optimizer`` when ``relax_ions``). Warns when ``max |C - C^T|`` exceeds
    ``asymmetry_tolerance`` GPa or the reference stress exceeds ``stress_tolerance`` GPa.
    """
    check_atoms(atoms)
    if not atoms.pbc.all():
        raise ValueError("elastic constants need a periodic cell (atoms.pbc all True)")
    check_cell_volume(atoms.cell.array, "elastic constants", "elastic constants need")
    if not 0 < strain < 0.1:
        raise ValueError(f"strain must be in (0, 0.1), got {strain}")
    reference = attach(atoms, as_calculator(source))
    if relax_ions:
        _relax(reference, optimizer, fmax, max_steps)
    reference_stress = reference.get_stress(voigt=True) / units.GPa
    cell = np.array(reference.cell)
    raw = np.zeros((6, 6))
    for j in range(6):
        stresses = []
        for sign in (1.0, -1.0):
            strained = reference.copy()
            strained.calc = reference.calc
            deformation = np.eye(3) + strain_matrix(sign * strain * np.eye(6)[j])
            strained.set_cell(cell @ deformation, scale_atoms=True)
            if relax_ions:
                _relax(strained, optimizer, fmax, max_steps)
            stresses.append(strained.get_stress(voigt=True) / units.GPa)
        raw[:, j] = (stresses[0] - stresses[1]) / (2 * strain)
    method = "finite-differences"
    return _finish(raw, reference_stress, method, relax_ions, strain, asymmetry_tolerance, stress_tolerance)


def _voigt_strain_tensor(voigt: torch.Tensor) -> torch.Tensor:
    rows = [
        torch.stack([voigt[0], voigt[5] / 2, voigt[4] / 2]),
        torch.stack([voigt[5] / 2, voigt[1], voigt[3] / 2]),
        torch.stack([voigt[4] / 2, voigt[3] / 2, voigt[2]]),
    ]
    return torch.stack(rows)


def elastic_tensor_autograd(
    model: Potential, atoms: Atoms, asymmetry_tolerance: float = 1.0, stress_tolerance: float = 0.1
) -> ElasticResult:
    """The clamped-ion elastic tensor of ``model`` by automatic differentiation: positions
    and cell are deformed by ``I + e(v)`` with a Voigt strain ``v = 0`` that requires
    grad, the model's stress (taken with ``create_graph=True``) is differentiated with
    respect to ``v``. Equals `elastic_tensor` with ``relax_ions=False`` up to the
    finite-difference error."""
    check_atoms(atoms)
    if not atoms.pbc.all():
        raise ValueError("elastic constants need a periodic cell (atoms.pbc all True)")
    check_cell_volume(atoms.cell.array, "elastic constants", "elastic constants need")
    graph = graph_from_atoms(atoms, model.cutoff, dtype=model.dtype).to(device=model.device)
    voigt = torch.zeros(6, dtype=model.dtype, device=model.device, requires_grad=True)
    deformation = torch.eye(3, dtype=model.dtype, device=model.device) + _voigt_strain_tensor(voigt)
    strained = replace(graph, positions=graph.positions @ deformation, cell=graph.cell @ deformation)
    stress = model(strained, outputs={"energy", "stress"}, create_graph=True).stress
    assert stress is not None
    stress_voigt = voigt_from_matrix(stress[0])
    (jacobian,) = torch.autograd.grad(
        stress_voigt, voigt, grad_outputs=torch.eye(6, dtype=voigt.dtype, device=voigt.device), is_grads_batched=True
    )
    raw = jacobian.detach().cpu().numpy().astype(np.float64) / units.GPa
    reference = stress_voigt.detach().cpu().numpy().astype(np.float64) / units.GPa
    return _finish(raw, reference, "autograd", False, 0.0, asymmetry_tolerance, stress_tolerance)


def write_elastic_files(result: ElasticResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """``elastic.json`` (everything), ``elastic.csv`` (the symmetrized matrix, GPa) and
    ``elastic.png`` (heat map) in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = ",".join(VOIGT_NAMES)  # C_ij in GPa, rows and columns in Voigt order
    np.savetxt(out / "elastic.csv", result.matrix, delimiter=",", fmt="%.6f", header=header, comments="")
    kind = "relaxed ions" if result.relaxed_ions else "clamped ions"
    return {
        "elastic.json": result.to_json(out / "elastic.json"),
        "elastic.csv": out / "elastic.csv",
        "elastic.png": elastic_matrix_plot(result.matrix, out / "elastic.png", title=f"elastic constants ({kind})"),
    }
