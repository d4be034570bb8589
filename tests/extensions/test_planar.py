"""The SO(2) model of 2-D point sets: its invariant output does not change and its vector
output rotates with each set (rotations, translations, permutations), a short fit learns
the dipole, bad input, and the data script."""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from equipot.extensions import fit_full_batch
from equipot.extensions.planar import PlanarPointSetModel, planar_edges, point_set_targets, sample_point_sets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> PlanarPointSetModel:
    torch.manual_seed(0)
    return PlanarPointSetModel(channels=4, mmax=2, num_layers=2)


def rotations(angles: torch.Tensor) -> torch.Tensor:
    c, s = angles.cos(), angles.sin()
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def test_targets_rotate_as_they_should() -> None:
    sets = sample_point_sets(3, 6, seed=1)
    rotation = rotations(torch.tensor(0.9, dtype=torch.float64))
    rg2, dipole = point_set_targets(sets.positions @ rotation.T + 5.0, sets.species, sets.batch, 3)
    assert torch.allclose(rg2, sets.rg2) and torch.allclose(dipole, sets.dipole @ rotation.T)


def test_rotating_and_moving_each_set_leaves_the_scalar_and_rotates_the_vector(model) -> None:
    sets = sample_point_sets(4, 6, seed=2)
    angles = torch.tensor([0.3, 1.9, -2.4, 3.0], dtype=torch.float64)
    shifts = torch.randn(4, 2, dtype=torch.float64)
    R = rotations(angles)
    moved = torch.einsum("nab,nb->na", R[sets.batch], sets.positions) + shifts[sets.batch]
    with torch.no_grad():
        scalar, vector = model(sets.positions, sets.species, sets.batch, 4)
        scalar2, vector2 = model(moved, sets.species, sets.batch, 4)
    assert torch.allclose(scalar2, scalar, atol=1e-10)
    assert torch.allclose(vector2, torch.einsum("nab,nb->na", R, vector), atol=1e-10)
    assert vector.abs().max() > 1e-3


def test_the_order_of_the_points_does_not_matter(model) -> None:
    sets = sample_point_sets(2, 6, seed=3)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = model(sets.positions, sets.species, sets.batch, 2)
        b = model(sets.positions[order], sets.species[order], sets.batch[order], 2)
    assert torch.allclose(a[0], b[0], atol=1e-10) and torch.allclose(a[1], b[1], atol=1e-10)


def test_a_short_fit_learns_the_dipole() -> None:
    torch.manual_seed(0)
    sets = sample_point_sets(32, 6, seed=4)
    model = PlanarPointSetModel(channels=4, mmax=1, num_layers=2, avg_neighbors=5.0)
    edges = planar_edges(sets.positions, sets.batch, model.cutoff)
    scale = float(sets.dipole.std())

    def dipole_error() -> torch.Tensor:
        _, dipole = model(sets.positions, sets.species, sets.batch, sets.n_sets, edges)
        return ((dipole - sets.dipole) / scale).pow(2).mean()

    before = float(dipole_error())
    fit_full_batch(model, dipole_error, steps=80, learning_rate=2e-2)
    assert float(dipole_error()) < 0.2 * min(before, 1.0)


def test_bad_input_gets_a_clear_message(model) -> None:
    with pytest.raises(ValueError, match=r"positions must be \[n_points, 2\] \(points in a plane\), got \(4, 3\)"):
        model(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="n_points must be an even number >= 2"):
        sample_point_sets(2, 5)
    with pytest.raises(ValueError, match="mmax must be at least 1"):
        PlanarPointSetModel(mmax=0)


def test_the_data_script_writes_sets_with_their_targets(tmp_path, monkeypatch) -> None:
    output = tmp_path / "sets.npz"
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["generate_planar_point_sets.py", "--n-sets", "5", "--output", str(output)])
    runpy.run_path(str(ROOT / "scripts" / "generate_planar_point_sets.py"), run_name="__main__")
    data = {k: torch.from_numpy(v) for k, v in np.load(output).items()}
    rg2, dipole = point_set_targets(data["positions"], data["species"], data["batch"], 5)
    assert torch.allclose(rg2, data["rg2"]) and torch.allclose(dipole, data["dipole"])
    assert math.isclose(float(data["species"].float().mean()), 0.5)
    assert (tmp_path / "sets.json").exists()
