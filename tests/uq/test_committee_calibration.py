"""Recalibrating a committee's spread on validation data (issue 19): synthetic members whose
spread is known, references whose errors are a known multiple of it, the stored factors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from torch import Tensor, nn

from equipot.data import AtomicGraph
from equipot.models.derivatives import derive_outputs
from equipot.models.output import ModelOutput
from equipot.uq import Committee, calibrate_committee, load_committee, save_committee
from equipot.uq.last_layer import calibration_scale


class Harmonic(nn.Module):
    """E = n c + a/2 sum_i |r_i|^2 (eV): a synthetic member; over members with several (c, a)
    the energy spread is std(n c + a/2 sum_i |r_i|^2) and the force spread on atom i is
    |r_i| std(a)."""

    def __init__(self, c: float, a: float):
        super().__init__()
        self.c, self.a = c, a

    cutoff = 2.0
    species = ["H", "C"]
    dtype = torch.float64
    device = torch.device("cpu")

    def output_specs(self) -> dict:
        return {}

    def converted(self, dtype: torch.dtype) -> Harmonic:
        return self

    def forward(self, graph: AtomicGraph, outputs=("energy", "forces"), create_graph: bool | None = None) -> ModelOutput:
        def atomic_energies(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
            return self.c + 0.5 * self.a * positions.square().sum(-1)

        return derive_outputs(atomic_energies, graph, set(outputs), bool(create_graph))


C_VALUES, A_VALUES = [0.0, 0.1, 0.2, 0.3], [1.0, 1.2, 0.8, 1.4]


def _committee() -> Committee:
    return Committee([Harmonic(c, a) for c, a in zip(C_VALUES, A_VALUES)])


def _energy_spread(positions: np.ndarray) -> float:
    energies = len(positions) * np.array(C_VALUES) + 0.5 * np.array(A_VALUES) * (positions**2).sum()
    return float(energies.std())


def _labelled(seed: int, energy_factor: float, force_factor: float, n_structures: int = 6) -> list[Atoms]:
    """Structures whose reference energy and forces differ from the committee's mean by
    ``energy_factor`` x and ``force_factor`` x its spread (random sign and direction)."""
    rng = np.random.default_rng(seed)
    c, a = np.array(C_VALUES), np.array(A_VALUES)
    frames = []
    for _ in range(n_structures):
        n = int(rng.integers(2, 6))
        atoms = Atoms(["H", "C"] * (n // 2) + ["H"] * (n % 2), positions=rng.normal(size=(n, 3)) * 3.0)
        radius2 = (atoms.positions**2).sum(1)
        mean_energy = n * c.mean() + 0.5 * a.mean() * radius2.sum()
        mean_forces = -a.mean() * atoms.positions
        direction = rng.normal(size=(n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        energy = mean_energy + rng.choice([-1.0, 1.0]) * energy_factor * _energy_spread(atoms.positions)
        forces = mean_forces + force_factor * np.sqrt(radius2)[:, None] * a.std() * direction
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def test_calibration_scale_is_the_rule_mean_error2_over_sigma2_equal_one() -> None:
    errors, variances = torch.tensor([4.0, 9.0, 1.0]), torch.tensor([1.0, 1.0, 0.0])
    assert calibration_scale(errors, variances) == pytest.approx(math.sqrt(6.5))  # sigma = 0 left out
    assert calibration_scale(errors, torch.zeros(3)) == 1.0


def test_the_factors_recover_a_known_over_confidence(tmp_path: Path) -> None:
    committee = _committee()
    frames = _labelled(0, energy_factor=2.0, force_factor=3.0)
    calibrated = calibrate_committee(committee, frames)
    assert calibrated.scales == pytest.approx({"energy_std": 2.0, "forces_std": 3.0}, rel=1e-10)
    assert committee.scales == {} and calibrated.calibrated_on == "6 structures"

    from equipot.data import LabelKeys, batch_graphs, graph_from_atoms

    graph = batch_graphs([graph_from_atoms(atoms, 2.0, keys=LabelKeys()) for atoms in frames[:2]])
    names = {"energy", "forces", "energy_std", "forces_std", "atomic_energies_std"}
    raw, scaled = committee(graph, outputs=names), calibrated(graph, outputs=names)
    known = torch.tensor([_energy_spread(atoms.positions) for atoms in frames[:2]], dtype=torch.float64)
    assert torch.allclose(raw.extra["energy_std"], known, rtol=1e-12)  # the spread the members were built with
    radius = graph.positions.norm(dim=-1)
    assert torch.allclose(raw.extra["forces_std"], radius * float(np.std(A_VALUES)), rtol=1e-12)
    assert torch.allclose(scaled.extra["energy_std"], 2.0 * raw.extra["energy_std"], rtol=1e-10)
    assert torch.allclose(scaled.extra["forces_std"], 3.0 * raw.extra["forces_std"], rtol=1e-10)
    assert torch.equal(scaled.extra["atomic_energies_std"], raw.extra["atomic_energies_std"])  # no label: unscaled
    assert torch.equal(scaled.forces, raw.forces) and torch.equal(scaled.energy, raw.energy)  # the mean is untouched

    # a calibrated committee scaled again on the same data keeps its factors (computed on the raw spread)
    assert calibrate_committee(calibrated, frames).scales == pytest.approx(calibrated.scales, rel=1e-12)
    well = calibrate_committee(committee, _labelled(1, energy_factor=1.0, force_factor=0.5))
    assert well.scales == pytest.approx({"energy_std": 1.0, "forces_std": 0.5}, rel=1e-10)


def test_the_factors_travel_in_the_committee_file(tmp_path: Path) -> None:
    from equipot import EquivariantPotential

    torch.manual_seed(0)
    members = [EquivariantPotential(species=["H", "C"], cutoff=2.0, num_channels=4, lmax=1, num_layers=1,
                                    dtype=torch.float64) for _ in range(2)]
    committee = Committee(members, {"energy_std": 2.5, "forces_std": 1.5}, "validation (7 structures)")
    loaded = load_committee(save_committee(committee, tmp_path / "committee.pt"))
    assert loaded.scales == {"energy_std": 2.5, "forces_std": 1.5}
    assert loaded.calibrated_on == "validation (7 structures)"
    assert load_committee(save_committee(Committee(members), tmp_path / "raw.pt")).scales == {}
    assert committee.converted(torch.float32).scales == committee.scales


def test_bad_input_is_refused_in_one_line() -> None:
    committee = _committee()
    with pytest.raises(ValueError, match="calibrate_committee needs labelled structures"):
        calibrate_committee(committee, [])
    unlabelled = Atoms("HC", positions=[[0, 0, 0], [1.0, 0, 0]])
    with pytest.raises(ValueError, match="needs reference energies"):
        calibrate_committee(committee, [unlabelled])
    with pytest.raises(ValueError, match="scales name unknown spreads"):
        Committee(committee.members, {"force_std": 2.0})
    with pytest.raises(ValueError, match="scale of energy_std must be a positive number"):
        Committee(committee.members, {"energy_std": -1.0})
