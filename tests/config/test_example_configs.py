"""The training configs shipped in examples/ are valid as they stand."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from equipot.config.train import TrainConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_example_training_config_validates(path: Path) -> None:
    TrainConfig.model_validate(yaml.safe_load(path.read_text()))


def test_the_ethanol_example_gives_separable_reference_energies() -> None:
    config = TrainConfig.model_validate(yaml.safe_load((EXAMPLES / "ethanol_long.yaml").read_text()))
    assert set(config.atomic_energies) == {"H", "C", "O"}
