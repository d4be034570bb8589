"""Test-set errors computed the same way for every library (numpy and ASE only).

``errors(reference, predicted)`` takes two lists of ASE ``Atoms`` with energy, forces and
(optionally) stress as calculator results, in the same order, and returns MAE and RMSE:

- energy per atom in meV/atom (|E_pred - E_ref| / n_atoms per frame),
- forces in meV/Å over every Cartesian component,
- stress in meV/Å³ over the six Voigt components (ASE sign), when both sides have it.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms


def _mae_rmse(difference: np.ndarray) -> dict[str, float]:
    return {"mae": float(np.mean(np.abs(difference)) * 1000.0), "rmse": float(np.sqrt(np.mean(difference**2)) * 1000.0)}


def _results(atoms: Atoms) -> dict:
    return atoms.calc.results if atoms.calc is not None else {}


def errors(reference: list[Atoms], predicted: list[Atoms]) -> dict[str, dict[str, float] | int]:
    """MAE and RMSE of energy (meV/atom), forces (meV/Å) and stress (meV/Å³)."""
    if len(reference) != len(predicted):
        raise ValueError(f"{len(reference)} reference frames but {len(predicted)} predictions")
    energy, forces, stress = [], [], []
    for ref, pred in zip(reference, predicted):
        ref_results, pred_results = _results(ref), _results(pred)
        energy.append((pred_results["energy"] - ref_results["energy"]) / len(ref))
        forces.append(np.asarray(pred_results["forces"]) - np.asarray(ref_results["forces"]))
        if "stress" in ref_results and "stress" in pred_results:
            stress.append(_voigt(pred_results["stress"]) - _voigt(ref_results["stress"]))
    result: dict[str, dict[str, float] | int] = {
        "n_frames": len(reference),
        "energy_mev_per_atom": _mae_rmse(np.array(energy)),
        "forces_mev_per_a": _mae_rmse(np.concatenate([f.ravel() for f in forces])),
    }
    if stress:
        result["stress_mev_per_a3"] = _mae_rmse(np.concatenate(stress))
    return result


def _voigt(stress: np.ndarray) -> np.ndarray:
    stress = np.asarray(stress, dtype=float)
    if stress.shape == (3, 3):
        return stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return stress.reshape(6)
