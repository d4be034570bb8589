"""Model hyperparameters: defaults, canonical species order, clear errors."""

import pytest
import torch
from pydantic import ValidationError

from equipot import EquivariantPotential, ModelConfig


def test_species_are_sorted_by_atomic_number_so_indices_do_not_depend_on_typing_order():
    assert ModelConfig(species=["O", "H", "C"]).species == ["H", "C", "O"]


def test_misspelled_key_suggests_the_closest():
    with pytest.raises(ValidationError, match="unknown key 'num_chanels'.*did you mean 'num_channels'"):
        ModelConfig(species=["H"], num_chanels=8)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"species": []}, "at least one element"),
        ({"species": ["H", "Xx"]}, "unknown chemical symbols"),
        ({"species": ["H", "H"]}, "listed twice"),
        ({"species": ["H"], "cutoff": -1.0}, "greater than 0"),
        ({"species": ["H"], "hidden_irreps": "8x1o"}, "must contain scalars"),
        ({"species": ["H"], "hidden_irreps": "8x0e+4x1o"}, "same multiplicity"),
        ({"species": ["H"], "hidden_irreps": "nonsense"}, "not an e3nn Irreps string"),
    ],
)
def test_invalid_hyperparameters(fields, message):
    with pytest.raises(ValidationError, match=message):
        ModelConfig(**fields)


def test_config_object_and_keyword_overrides():
    config = ModelConfig(species=["H", "O"], num_channels=4, num_layers=1)
    model = EquivariantPotential(config, lmax=1)
    assert model.config.lmax == 1 and model.config.num_channels == 4
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_hidden_irreps_with_pseudo_features_are_ordered_scalars_first():
    model = EquivariantPotential(species=["H"], hidden_irreps="4x1o+4x0e+4x1e+4x0o", num_layers=1)
    assert model.layout_node.irreps == ((0, 1), (0, -1), (1, 1), (1, -1))
