"""Scoring and selection of explored frames by each estimator, on untrained tiny models
(no training needed: the scores' meaning does not depend on accuracy): the committee's
force spread, descriptor distances with and without a threshold, and farthest-point
sampling of the flagged frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from equipot import EquivariantPotential, graph_from_atoms
from equipot.config import ModelConfig
from equipot.learn import farthest_point_sampling, score_frames, select_frames
from equipot.uq import Committee, UncertaintyPotential, fit_descriptor_distances


def _model(seed: int) -> EquivariantPotential:
    torch.manual_seed(seed)
    config = ModelConfig(species=["Cu"], cutoff=3.0, num_channels=4, num_layers=1, correlation=1, lmax=1,
                         radial_hidden=8, num_radial_basis=4, readout_hidden=4)
    model = EquivariantPotential(config, dtype=torch.float64)
    model.set_normalization(scale=1.0, avg_num_neighbors=12.0)
    return model.eval()


def _cells(rattle: float, n: int, seed: int, a: float = 3.6) -> list:
    frames = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        if rattle:
            atoms.rattle(rattle, seed=seed + i)
        frames.append(atoms)
    return frames


def test_committee_scores_the_largest_force_spread():
    committee = Committee([_model(0), _model(1)])
    perfect, rattled = _cells(0.0, 1, 0), _cells(0.1, 3, 1)
    scores, flags = score_frames(committee, perfect + rattled, "committee", threshold=1e-6)
    assert scores[0] < 1e-8 and not flags[0]  # forces vanish by symmetry in both members: no spread
    assert (scores[1:] > 1e-6).all() and flags[1:].all()
    from equipot import EquipotCalculator

    atoms = rattled[0].copy()
    atoms.calc = EquipotCalculator(committee)
    assert scores[1] == pytest.approx(np.max(atoms.calc.get_property("forces_std", atoms)))
    _, high = score_frames(committee, rattled, "committee", threshold=float(scores[1:].max()) + 1.0)
    assert not high.any()


def test_descriptor_scores_distance_to_the_training_set():
    model = _model(0)
    train = _cells(0.02, 4, 0)
    estimator = fit_descriptor_distances(model, [graph_from_atoms(a, model.cutoff) for a in train])
    potential = UncertaintyPotential(model, descriptors=estimator)
    near, far = train[:1], _cells(0.02, 1, 0, a=3.2)  # a training frame; the same frame compressed 11 %
    scores, flags = score_frames(potential, near + far, "descriptor", threshold=None)
    assert scores[0] < 1e-8 and scores[1] > scores[0]
    assert flags.tolist() == [False, True]  # threshold None: the model's own `extrapolating` output
    _, explicit = score_frames(potential, near + far, "descriptor", threshold=float(scores[1]) * 2)
    assert not explicit.any()


def test_selection_takes_flagged_frames_and_spreads_them():
    model = _model(0)
    frames = _cells(0.1, 2, 5) * 3 + _cells(0.1, 1, 9, a=3.3)  # three copies each of two frames, and a third frame
    scores = np.array([0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.5])
    flags = np.array([True, True, True, True, True, True, False])
    chosen = select_frames(model, frames, scores, flags, budget=2, candidates_per_label=3)
    assert chosen[0] == 0 and len(chosen) == 2 and scores[chosen[1]] == 0.8  # a copy of frame 0 adds nothing
    flags[-1] = True
    scores[-1] = 0.95
    assert select_frames(model, frames, scores, flags, budget=2, candidates_per_label=3)[0] == 6
    assert select_frames(model, frames, scores, np.zeros(7, dtype=bool), budget=2, candidates_per_label=3) == []


def test_farthest_point_sampling_picks_the_far_points():
    features = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0], [0.05, 0.0]])
    assert farthest_point_sampling(features, 3) == [0, 2, 3]
    assert farthest_point_sampling(features, 10, first=2)[:3] == [2, 3, 1]  # [0, 3] is 5.8 from [5, 0]
    assert len(farthest_point_sampling(features, 10)) == 5
