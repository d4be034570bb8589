"""Composition: `SumPotential` of a model and a `PairRepulsion` is a potential like any
other: the calculator, MD, the exact Hessian and `equipot.testing` take it unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.fd import calculate_numerical_stress

from equipot import EquipotCalculator, EquivariantPotential, graph_from_atoms
from equipot.config import ModelConfig
from equipot.data import batch_graphs
from equipot.models import PairRepulsion, Potential, SumPotential
from equipot.models.composition import edges_within
from equipot.properties import exact_hessian, finite_difference_hessian
from equipot.simulate import run_nve
from equipot.testing import ModelTestSuite

OUTPUTS = ("energy", "atomic_energies", "forces", "stress", "virial")
SPECIES = ["H", "C", "O"]


def _model(dtype: torch.dtype = torch.float64, heads: list | None = None) -> EquivariantPotential:
    torch.manual_seed(0)
    config = ModelConfig(species=SPECIES, cutoff=3.0, num_channels=4, num_layers=1, correlation=2, heads=heads or [])
    model = EquivariantPotential(config, dtype=dtype)
    model.set_normalization(scale=2.0, avg_num_neighbors=4.0)
    return model.eval()


def _sum(dtype: torch.dtype = torch.float64) -> tuple[EquivariantPotential, PairRepulsion, SumPotential]:
    model = _model(dtype)
    repulsion = PairRepulsion(SPECIES, cutoff=1.6, dtype=dtype)
    return model, repulsion, SumPotential(model, repulsion)


def _ethanol() -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=0)
    return atoms


def _crystal() -> Atoms:
    """A periodic C/O/H cell with some pairs inside the repulsion's cutoff."""
    atoms = Atoms("C2OH", positions=[[0, 0, 0], [1.4, 0.1, 0.0], [0.2, 1.3, 0.1], [1.1, 1.2, 1.0]],
                  cell=[3.2, 3.0, 3.1], pbc=True)
    atoms.rattle(0.03, seed=1)
    return atoms


def test_zbl_pair_energy_matches_the_formula_and_vanishes_beyond_the_cutoff() -> None:
    repulsion = PairRepulsion(["H", "C"], cutoff=1.6, dtype=torch.float64)
    for r in (0.3, 0.8, 1.2, 1.7):
        dimer = Atoms("CH", positions=[[0, 0, 0], [r, 0, 0]])
        energy = float(repulsion(graph_from_atoms(dimer, 1.6), outputs={"energy"}).energy[0])
        a = 0.46850 / (6**0.23 + 1**0.23)
        phi = sum(c * np.exp(-d * r / a) for c, d in zip((0.18175, 0.50986, 0.28022, 0.02817),
                                                          (3.19980, 0.94229, 0.40290, 0.20162)))
        x = r / 1.6
        envelope = (1 - 28 * x**6 + 48 * x**7 - 21 * x**8) if x < 1 else 0.0
        assert energy == pytest.approx(14.399645 * 6 / r * phi * envelope, rel=1e-12, abs=1e-14)
    assert energy == 0.0  # 1.7 Å: beyond the cutoff


def test_the_sum_adds_energies_and_derivatives_of_its_terms() -> None:
    model, repulsion, total = _sum()
    assert isinstance(total, Potential) and isinstance(repulsion, Potential)
    assert total.cutoff == 3.0 and total.species == SPECIES and total.dtype == torch.float64
    graph = batch_graphs([graph_from_atoms(_ethanol(), 3.0), graph_from_atoms(_crystal(), 3.0)])
    parts = [term(graph, outputs=OUTPUTS) for term in (model, repulsion)]
    summed = total(graph, outputs=OUTPUTS)
    assert float(parts[1].energy.detach().abs().max()) > 1.0  # the repulsion matters here
    for name in ("energy", "atomic_energies", "forces", "virial"):
        torch.testing.assert_close(getattr(summed, name), getattr(parts[0], name) + getattr(parts[1], name),
                                   rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(summed.stress[1], parts[0].stress[1] + parts[1].stress[1], rtol=1e-12, atol=1e-12)


def test_each_term_sees_the_edges_within_its_own_cutoff() -> None:
    graph = graph_from_atoms(_crystal(), 3.0)
    short = edges_within(graph, 1.6)
    lengths = torch.linalg.norm(graph.positions[graph.senders] - graph.positions[graph.receivers]
                                + graph.cell_shifts @ graph.cell[0], dim=-1)
    assert 0 < short.n_edges == int((lengths < 1.6).sum()) < graph.n_edges
    assert short.positions is graph.positions and edges_within(graph, 3.0) is graph


def test_a_composed_potential_runs_in_the_calculator(tmp_path) -> None:
    model, repulsion, total = _sum()
    atoms = _crystal()
    atoms.calc = EquipotCalculator(total)
    parts = []
    for term in (model, repulsion):
        copy = atoms.copy()
        copy.calc = EquipotCalculator(term)
        parts.append((copy.get_potential_energy(), copy.get_forces()))
    assert atoms.get_potential_energy() == pytest.approx(parts[0][0] + parts[1][0], rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), parts[0][1] + parts[1][1], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-6), atol=1e-6)
    float32 = EquipotCalculator(total, dtype=torch.float32)  # through SumPotential.converted
    assert float32.model.dtype == torch.float32


def test_a_composed_potential_conserves_energy_in_md() -> None:
    _, _, total = _sum()
    atoms = _ethanol()
    result = run_nve(atoms, EquipotCalculator(total), steps=40, timestep_fs=0.25, temperature_K=300.0,
                     log_every=1, progress=False)
    exchanged = np.ptp(result.potential_energy)
    assert exchanged > 1e-2  # eV: the forces do work
    assert np.ptp(result.total_energy) < 2e-2 * exchanged


def test_exact_hessian_of_a_composed_potential_matches_finite_differences() -> None:
    _, _, total = _sum()
    atoms = _ethanol()
    exact = exact_hessian(total, atoms)
    numeric = finite_difference_hessian(total, atoms, delta=1e-4)
    scale = np.abs(exact.matrix).max()
    assert scale > 10.0
    np.testing.assert_allclose(exact.matrix, numeric.matrix, atol=1e-6 * scale)


def test_a_head_of_one_term_passes_through_the_sum() -> None:
    model = _model(heads=[{"name": "dipole", "kind": "dipole"}])
    total = SumPotential(model, PairRepulsion(SPECIES, dtype=torch.float64))
    assert set(total.output_specs()) == {"dipole"} and not total.output_specs()["dipole"].periodic
    graph = graph_from_atoms(_ethanol(), 3.0)
    torch.testing.assert_close(total(graph, outputs={"energy", "dipole"}).extra["dipole"],
                               model(graph, outputs={"energy", "dipole"}).extra["dipole"], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"unknown outputs \['charges'\]; this sum computes"):
        total(graph, outputs={"energy", "charges"})
    with pytest.raises(ValueError, match=r"declare the same outputs \['dipole'\]"):
        SumPotential(model, model)


def test_terms_that_do_not_fit_together_are_refused() -> None:
    model = _model()
    with pytest.raises(ValueError, match=r"must share species: term 0 knows \['H', 'C', 'O'\], term 1 knows \['H'\]"):
        SumPotential(model, PairRepulsion(["H"], dtype=torch.float64))
    with pytest.raises(ValueError, match="must share dtype and device: term 0 is torch.float64 on cpu, term 1 is torch.float32"):
        SumPotential(model, PairRepulsion(SPECIES))
    with pytest.raises(TypeError, match="SumPotential term 1 is a str, not a Potential"):
        SumPotential(model, "coulomb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one potential"):
        SumPotential()
    with pytest.raises(ValueError, match=r"PairRepulsion species must be chemical symbols.*\['X1'\]"):
        PairRepulsion(["X1"])
    with pytest.raises(ValueError, match="contains N, which this PairRepulsion was not built for"):
        PairRepulsion(SPECIES)(graph_from_atoms(molecule("NH3"), 1.5))
    with pytest.raises(TypeError, match="EquipotCalculator needs an equipot Potential"):
        EquipotCalculator(object())  # type: ignore[arg-type]


class TestSumPotentialSuite(ModelTestSuite):
    """The physics every equipot model satisfies (equivariance, finite differences,
    batching, locality, smoothness at the cutoff), for the composed potential."""

    def make_model(self, dtype: torch.dtype) -> SumPotential:
        return _sum(dtype)[2]
