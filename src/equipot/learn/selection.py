"""Selection: score explored frames by uncertainty, flag those above the threshold, and
pick a diverse subset of the most uncertain ones within the label budget."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..calculator import EquipotCalculator
from ..models import Potential
from ..uq import invariant_features

__all__ = ["farthest_point_sampling", "score_frames", "select_frames"]


def score_frames(potential: Potential, frames: list[Atoms], estimator: str, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Scores [n_frames] and flags [n_frames] (bool) of ``frames``.

    committee and last_layer: the largest ``forces_std`` over a frame's atoms (eV/Å);
    descriptor: ``max_descriptor_distance`` (feature units). A frame is flagged when its
    score exceeds ``threshold``; with ``threshold=None`` (descriptor only), when the
    model's ``extrapolating`` output is 1. A non-finite score counts as flagged.
    """
    calculator = EquipotCalculator(potential)
    scores, flags = np.empty(len(frames)), np.zeros(len(frames), dtype=bool)
    for index, frame in enumerate(frames):
        atoms = frame.copy()
        atoms.calc = calculator
        if estimator == "descriptor":
            score = float(np.max(calculator.get_property("max_descriptor_distance", atoms)))
            flagged = score > threshold if threshold is not None else bool(np.max(calculator.get_property("extrapolating", atoms)) > 0.5)
        else:
            score = float(np.max(calculator.get_property("forces_std", atoms)))
            flagged = score > float(threshold)  # type: ignore[arg-type]
        scores[index] = score if np.isfinite(score) else np.inf
        flags[index] = flagged or not np.isfinite(score)
    return scores, flags


def farthest_point_sampling(features: np.ndarray, count: int, first: int = 0) -> list[int]:
    """``count`` row indices of ``features`` [n, C], starting from ``first``, each next the
    row farthest (Euclidean) from those already chosen."""
    count = min(count, len(features))
    if count == 0:
        return []
    chosen = [first]
    distance = np.linalg.norm(features - features[first], axis=1)
    while len(chosen) < count:
        next_index = int(np.argmax(distance))
        if distance[next_index] <= 0.0 and len(chosen) >= 1:  # only duplicates left: take them in order
            rest = [i for i in range(len(features)) if i not in chosen]
            chosen += rest[: count - len(chosen)]
            break
        chosen.append(next_index)
        distance = np.minimum(distance, np.linalg.norm(features - features[next_index], axis=1))
    return chosen


def select_frames(
    model: Potential, frames: list[Atoms], scores: np.ndarray, flags: np.ndarray, budget: int, candidates_per_label: int
) -> list[int]:
    """Indices of the frames to label: among the ``budget * candidates_per_label`` flagged
    frames of highest score, ``budget`` chosen by farthest-point sampling in the space of
    their per-structure `invariant_features` (mean over atoms), starting from the most
    uncertain. ``model`` gives the features (an `EquivariantPotential` or a wrapper)."""
    flagged = np.flatnonzero(flags)
    if len(flagged) == 0:
        return []
    ranked = flagged[np.argsort(-scores[flagged], kind="stable")][: budget * candidates_per_label]
    _, per_structure = invariant_features(model, [frames[i] for i in ranked])
    return [int(ranked[i]) for i in farthest_point_sampling(per_structure, budget, first=0)]
