"""Every model configuration passes the public `ModelTestSuite`."""

import numpy as np
import pytest
import torch

from equipot import EquivariantPotential
from equipot.testing import ModelTestSuite, assert_equivariant, evaluate, random_rotation, rotate_atoms


class TestMACELikePotential(ModelTestSuite):
    """Four-body product basis (correlation 3), vectors in the hidden features."""

    def make_model(self, dtype):
        return EquivariantPotential(
            species=["H", "C", "O"], cutoff=3.5, num_channels=8, lmax=2, hidden_lmax=1, num_layers=2, correlation=3, dtype=dtype
        )


class TestNequIPLikePotential(ModelTestSuite):
    """Two-body messages only (correlation 1), l up to 2 in the hidden features."""

    def make_model(self, dtype):
        return EquivariantPotential(
            species=["H", "O", "Cu"], cutoff=3.5, num_channels=8, lmax=2, hidden_lmax=2, num_layers=2, correlation=1, dtype=dtype
        )


class TestPseudoFeaturePotential(ModelTestSuite):
    """Explicit hidden irreps with pseudo-scalars and pseudo-vectors (odd scalars use tanh)."""

    def make_model(self, dtype):
        return EquivariantPotential(
            species=["H", "C"], cutoff=3.5, hidden_irreps="8x0e+8x0o+8x1o+8x1e", lmax=2, num_layers=2, correlation=2, dtype=dtype
        )


class TestSO3Potential(ModelTestSuite):
    """parity=False: only proper rotations are symmetries."""

    reflections = False

    def make_model(self, dtype):
        return EquivariantPotential(species=["C", "H"], cutoff=3.5, num_channels=8, lmax=2, parity=False, dtype=dtype)

    def test_mirror_image_changes_the_energy(self) -> None:
        model = self._model()
        molecule = self.molecule(model)
        mirror = rotate_atoms(molecule, np.diag([-1.0, 1.0, 1.0]))
        energy = evaluate(model, molecule, ("energy",))["energy"]
        mirrored = evaluate(model, mirror, ("energy",))["energy"]
        # an O(3) model agrees to ~1e-15 here; SO(3) features see chirality through
        # triple products, weak but far above round-off in an untrained model
        assert abs(energy - mirrored) > 1e-9 * max(abs(energy), 1.0)
        with pytest.raises(AssertionError, match="reflection"):
            assert_equivariant(model, molecule, ("energy",))


class TestDensityEmbeddingPotential(ModelTestSuite):
    """With the embedded-density readout (`DensityReadout`), its output layer made non-zero."""

    def make_model(self, dtype):
        model = EquivariantPotential(
            species=["H", "O", "Cu"], cutoff=3.5, num_channels=8, lmax=2, num_layers=2, correlation=2,
            density_embedding={"decay_rates": [1.0, 2.5], "hidden": 8}, dtype=dtype,
        )
        with torch.no_grad():  # the output layer starts at zero; the checks need the term present
            model.density_readout.out_weight.normal_()
            model.density_readout.amplitudes.uniform_(0.5, 1.5)
            model.density_readout.density_mean.fill_(0.3)
            model.density_readout.density_scale.fill_(0.7)
        return model
