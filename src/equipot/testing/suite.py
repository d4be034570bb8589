"""`ModelTestSuite`: the physics every equipot model must satisfy, as a pytest class.

Subclass it in a test module and implement `make_model`::

    class TestMyModel(ModelTestSuite):
        def make_model(self, dtype):
            return EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=8, dtype=dtype)
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from ..data import batch_graphs, graph_from_atoms
from .equivariance import assert_equivariant, evaluate, evaluate_many
from .finite_differences import assert_forces_match_finite_differences, assert_stress_match_finite_differences
from .structures import random_crystal, random_molecule

__all__ = ["ModelTestSuite"]


class ModelTestSuite:
    """Equivariance, derivatives, batching, locality and smoothness checks for a model."""

    seed = 0
    #: False for SO(3)-only models: improper rotations are then not symmetries
    reflections = True

    def make_model(self, dtype: torch.dtype) -> torch.nn.Module:
        raise NotImplementedError("subclasses return a freshly built (untrained) model in dtype")

    # -------------------------------------------------------------- fixtures
    def _model(self, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
        torch.manual_seed(self.seed)
        model = self.make_model(dtype).eval()
        self._perturb_normalization(model)
        return model

    @staticmethod
    def _perturb_normalization(model: torch.nn.Module) -> None:
        # untrained readouts can be tiny; a non-trivial scale makes the checks meaningful
        if hasattr(model, "set_normalization"):
            model.set_normalization(scale=2.0, shift=0.1)

    def _symbols(self, model: torch.nn.Module) -> list[str]:
        return list(model.species)

    def molecule(self, model: torch.nn.Module) -> Atoms:
        return random_molecule(self._symbols(model), 7, np.random.default_rng(self.seed))

    def crystal(self, model: torch.nn.Module) -> Atoms:
        return random_crystal(self._symbols(model), 4, np.random.default_rng(self.seed + 1))

    def small_cell(self, model: torch.nn.Module) -> Atoms:
        """Two atoms in a cell much smaller than the cutoff: many self-images."""
        return random_crystal(self._symbols(model), 2, np.random.default_rng(self.seed + 2), lattice=2.2)

    # ----------------------------------------------------------- equivariance
    def test_equivariance_molecule_float64(self) -> None:
        model = self._model()
        assert_equivariant(
            model, self.molecule(model), ("energy", "forces", "atomic_energies"), reflections=self.reflections
        )

    def test_equivariance_crystal_float64(self) -> None:
        model = self._model()
        outputs = ("energy", "forces", "stress")
        assert_equivariant(model, self.crystal(model), outputs, reflections=self.reflections)
        assert_equivariant(model, self.small_cell(model), outputs, trials=1, reflections=self.reflections)

    def test_heads_are_equivariant_float64(self) -> None:
        """Every declared head (``model.output_specs()``) transforms as it says, on a
        molecule (and, except dipoles, which are undefined there, on a crystal)."""
        model = self._model()
        specs = model.output_specs() if hasattr(model, "output_specs") else {}
        if not specs:
            import pytest  # only when run: equipot.testing itself does not need pytest

            pytest.skip("the model declares no heads (output_specs() is empty)")
        assert_equivariant(model, self.molecule(model), ("energy", *specs), reflections=self.reflections)
        periodic = [name for name in specs if name not in self._dipole_heads(model)]
        assert_equivariant(model, self.crystal(model), ("energy", *periodic), trials=1, reflections=self.reflections)

    @staticmethod
    def _dipole_heads(model: torch.nn.Module) -> set[str]:
        """Heads undefined for periodic structures (`OutputSpec.periodic`)."""
        return {name for name, spec in model.output_specs().items() if not spec.periodic}

    def test_equivariance_float32(self) -> None:
        model = self._model(torch.float32)
        crystal = self.crystal(model)
        for atoms, outputs in [(self.molecule(model), ("energy", "forces")), (crystal, ("energy", "forces"))]:
            assert_equivariant(model, atoms, outputs, trials=1, reflections=self.reflections)
        # the stress is a sum of per-edge virials that largely cancel; float32 keeps each term
        # to ~1e-7, so the sum to ~1e-5 of its size or worse in a stiff untrained model
        assert_equivariant(model, crystal, ("stress",), trials=1, reflections=self.reflections, rtol=1e-4)

    # ------------------------------------------------------------ derivatives
    def test_forces_match_finite_differences(self) -> None:
        model = self._model()
        assert_forces_match_finite_differences(model, self.molecule(model))
        assert_forces_match_finite_differences(model, self.crystal(model))

    def test_stress_matches_finite_differences(self) -> None:
        model = self._model()
        assert_stress_match_finite_differences(model, self.crystal(model))
        assert_stress_match_finite_differences(model, self.small_cell(model))

    # ------------------------------------------------------ batching, locality
    def test_batch_matches_single_structures(self) -> None:
        model = self._model()
        structures = [self.molecule(model), self.crystal(model), self.small_cell(model)]
        graphs = [graph_from_atoms(a, model.cutoff, dtype=torch.float64) for a in structures]
        batched = model(batch_graphs(graphs), outputs={"energy", "forces", "stress"}, create_graph=False)
        start = 0
        for index, (atoms, graph) in enumerate(zip(structures, graphs)):
            alone = model(graph, outputs={"energy", "forces", "stress"}, create_graph=False)
            torch.testing.assert_close(batched.energy[index : index + 1], alone.energy, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(
                batched.forces[start : start + len(atoms)], alone.forces, rtol=1e-10, atol=1e-12
            )
            torch.testing.assert_close(batched.stress[index : index + 1], alone.stress, rtol=1e-10, atol=1e-12)
            start += len(atoms)

    def test_far_apart_copies_double_the_energy(self) -> None:
        model = self._model()
        molecule = self.molecule(model)
        far = molecule.copy()
        far.positions += np.array([model.cutoff * 3, 0.0, 0.0])
        single = evaluate(model, molecule, ("energy",))["energy"]
        double = evaluate(model, molecule + far, ("energy",))["energy"]
        np.testing.assert_allclose(double, 2 * single, rtol=1e-12)

    def test_smooth_as_a_neighbor_crosses_the_cutoff(self) -> None:
        model = self._model()
        symbol = self._symbols(model)[0]
        cutoff = model.cutoff
        distances = np.linspace(cutoff - 1.0, cutoff + 0.3, 261)
        dimers = [Atoms([symbol, symbol], positions=[[0, 0, 0], [d, 0, 0]]) for d in distances]
        results = evaluate_many(model, dimers, ("energy", "forces"))
        energies = np.array([float(result["energy"]) for result in results])
        forces = np.array([float(result["forces"][1, 0]) for result in results])
        beyond = distances >= cutoff
        # beyond the cutoff the two atoms do not see each other
        assert np.ptp(energies[beyond]) < 1e-12 and np.abs(forces[beyond]).max() < 1e-12
        # no jump in the energy anywhere: |dE| bounded by the largest force times the step
        step = distances[1] - distances[0]
        assert np.abs(np.diff(energies)).max() <= 1.5 * np.abs(forces).max() * step + 1e-12
        # the force fades to zero as the neighbor reaches the cutoff (no jump in the force)
        assert abs(forces[~beyond][-1]) <= 1e-2 * np.abs(forces).max() + 1e-12
