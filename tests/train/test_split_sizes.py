"""`training_split_size` predicts what `load_training_data` keeps for training (the active-
learning loop sizes its fine-tunes by it without reading the data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from equipot.config import TrainConfig
from equipot.data.dataset import holdout_size
from equipot.train.data import load_training_data, training_split_size

from train_helpers import write_molecules


@pytest.mark.parametrize(
    "data",
    [
        {},  # the default valid_fraction
        {"n_valid": 3},
        {"valid_fraction": 0.3},
        {"n_test": 4, "n_valid": 2},
        {"test_fraction": 0.25, "valid_fraction": 0.2},
        {"test_fraction": 0.05, "n_valid": 1},  # rounds to 1, at least one
    ],
)
def test_training_split_size_matches_the_split_that_training_makes(tmp_path: Path, data: dict) -> None:
    path = write_molecules(tmp_path / "molecules.xyz", n=23)
    config = TrainConfig.model_validate({"data": {"train_file": str(path), **data}})
    kept = load_training_data(config, cutoff=3.0).train
    assert training_split_size(config.data, 23) == len(kept)


def test_holdout_size_rounds_and_keeps_at_least_one() -> None:
    assert holdout_size(23, 0.3, None) == 7
    assert holdout_size(23, 0.01, None) == 1
    assert holdout_size(23, 0.9, 4) == 4  # a count wins over a fraction
