"""`equipot.load_potential`: one reader for every kind of potential file, refusing what it
cannot read safely (the kinds themselves are tested with their packages: tests/uq,
tests/longrange, tests/models/test_model_file.py)."""

from __future__ import annotations

import pytest
import torch

from equipot import EquivariantPotential, ModelConfig, load_potential, save_model
from equipot.models.io import ModelFileError

SMALL = dict(species=["H", "O"], cutoff=3.0, num_channels=4, lmax=1, num_layers=1, correlation=1)


def test_a_plain_model_file_loads_as_the_model_in_the_dtype_asked(tmp_path) -> None:
    path = save_model(EquivariantPotential(ModelConfig(**SMALL)), tmp_path / "model.pt")
    loaded = load_potential(path, dtype=torch.float64)
    assert isinstance(loaded, EquivariantPotential) and loaded.dtype == torch.float64 and not loaded.training


def test_an_export_a_foreign_file_and_a_newer_format_are_refused_in_one_line(tmp_path) -> None:
    with pytest.raises(ModelFileError, match=r"exported model \(.pt2\).*machine code.*load_exported"):
        load_potential(tmp_path / "model.pt2")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ModelFileError, match="neither an equipot model nor a committee file"):
        load_potential(tmp_path / "foreign.pt")
    payload = torch.load(save_model(EquivariantPotential(ModelConfig(**SMALL)), tmp_path / "m.pt"), weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ModelFileError, match="written by a newer equipot.*upgrade equipot"):
        load_potential(tmp_path / "future.pt")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_potential(tmp_path / "missing.pt")
