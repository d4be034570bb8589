"""`ModelTestSuite` reports a check it cannot run as skipped, never as passed."""

from __future__ import annotations

import pytest
import torch

from equipot import EquivariantPotential
from equipot.testing import ModelTestSuite


class _HeadlessModelSuite(ModelTestSuite):  # not collected: its name does not start with "Test"
    def make_model(self, dtype: torch.dtype) -> EquivariantPotential:
        return EquivariantPotential(species=["H"], cutoff=3.0, num_channels=4, lmax=1, num_layers=1, dtype=dtype)


def test_heads_check_is_skipped_for_a_model_without_heads() -> None:
    with pytest.raises(pytest.skip.Exception, match="declares no heads"):
        _HeadlessModelSuite().test_heads_are_equivariant_float64()
