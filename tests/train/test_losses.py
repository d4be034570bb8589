"""Loss terms, error metrics, the epoch sampler and the weight average, against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from ase.build import bulk, molecule
from train_helpers import TINY_MODEL

from equipot.data import AtomicGraph, batch_graphs, graph_from_atoms
from equipot.models import EquivariantPotential, ModelOutput
from equipot.train import (
    EpochSampler,
    ErrorSums,
    ExponentialMovingAverage,
    LossFunction,
    LossWeights,
    MissingTargetError,
    ShardedBatchSampler,
    prediction_errors,
)
from equipot.evaluation import column_name


def labelled_batch() -> AtomicGraph:
    """Two structures (5 and 4 atoms) with known labels."""
    graphs = []
    for atoms, energy in ((molecule("CH4"), 1.0), (bulk("Cu", cubic=True), 2.0)):
        graph = graph_from_atoms(atoms, cutoff=3.0, dtype=torch.float64)
        graph.graph_targets["energy"] = torch.tensor([energy], dtype=torch.float64)
        graph.graph_targets["stress"] = torch.zeros(1, 3, 3, dtype=torch.float64)
        graph.atom_targets["forces"] = torch.zeros(len(atoms), 3, dtype=torch.float64)
        graphs.append(graph)
    return batch_graphs(graphs)


def fake_output(graph: AtomicGraph) -> ModelOutput:
    forces = torch.zeros(graph.n_atoms, 3, dtype=torch.float64)
    forces[0, 0] = 0.3  # one component off by 0.3 eV/Å
    stress = torch.zeros(graph.n_graphs, 3, 3, dtype=torch.float64)
    stress[1, 0, 1] = stress[1, 1, 0] = 0.01  # xy off by 0.01 eV/Å³
    energy = torch.tensor([1.5, 1.0], dtype=torch.float64)  # errors +0.5 eV / 5 atoms, -1 eV / 4 atoms
    return ModelOutput(energy=energy, atomic_energies=torch.zeros(graph.n_atoms), forces=forces, stress=stress)


def test_mse_loss_per_atom_energy_forces_and_stress() -> None:
    graph = labelled_batch()
    errors = prediction_errors(fake_output(graph), graph)
    assert torch.allclose(errors["energy"], torch.tensor([0.1, -0.25], dtype=torch.float64))
    loss = LossFunction("mse")(errors, LossWeights(energy=2.0, forces=10.0, stress=100.0))
    expected = 2.0 * (0.1**2 + 0.25**2) / 2 + 10.0 * 0.3**2 / (9 * 3) + 100.0 * 2 * 0.01**2 / 18
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_huber_is_quadratic_then_linear() -> None:
    loss = LossFunction("huber", delta=0.1)
    penalties = loss.penalty(torch.tensor([0.05, -0.3]))
    assert penalties.tolist() == pytest.approx([0.5 * 0.05**2, 0.1 * (0.3 - 0.05)])


def test_absent_label_is_an_error_only_with_positive_weight() -> None:
    graph = labelled_batch()
    del graph.atom_targets["forces"]
    errors = prediction_errors(fake_output(graph), graph)
    energy_only = LossFunction()(errors, LossWeights(energy=1.0, forces=0.0))
    assert float(energy_only) == pytest.approx((0.1**2 + 0.25**2) / 2)
    with pytest.raises(
        MissingTargetError,
        match="forces weight 10.0 but the batch has no forces labels.*set the forces weight to 0 or provide forces",
    ):
        LossFunction()(errors, LossWeights(energy=1.0, forces=10.0))


def test_error_sums_give_mae_rmse_in_mev_and_add_across_processes() -> None:
    graph = labelled_batch()
    loss = LossFunction()
    sums = ErrorSums()
    sums.add(prediction_errors(fake_output(graph), graph), loss)
    metrics = sums.metrics(LossWeights(energy=1.0, forces=1.0, stress=0.0))
    assert metrics["energy_per_atom_mae"] == pytest.approx(1000 * (0.1 + 0.25) / 2)
    assert metrics["energy_per_atom_rmse"] == pytest.approx(1000 * ((0.1**2 + 0.25**2) / 2) ** 0.5)
    assert metrics["forces_mae"] == pytest.approx(1000 * 0.3 / 27)
    assert metrics["stress_mae"] == pytest.approx(1000 * 0.01 / 12)  # six Voigt components per structure
    assert metrics["loss"] == pytest.approx((0.1**2 + 0.25**2) / 2 + 0.3**2 / 27)
    doubled = sums.reduced(lambda values: 2 * values).metrics(LossWeights())
    assert doubled["forces_mae"] == pytest.approx(metrics["forces_mae"])
    assert column_name("forces_mae") == "forces_mae_meV_per_A"
    assert column_name("energy_per_atom_rmse") == "energy_per_atom_rmse_meV_per_atom"


def test_epoch_order_is_a_function_of_seed_and_epoch() -> None:
    sampler = EpochSampler(10, seed=3)
    sampler.set_epoch(4)
    first = list(sampler)
    again = EpochSampler(10, seed=3)
    again.set_epoch(4)
    assert list(again) == first and sorted(first) == list(range(10))
    sampler.set_epoch(5)
    assert list(sampler) != first


@pytest.mark.parametrize(("n", "batch_size", "world"), [(12, 4, 2), (11, 4, 2), (9, 4, 2), (10, 3, 3)])
def test_sharded_batches_cover_the_single_process_batches(n: int, batch_size: int, world: int) -> None:
    single = list(ShardedBatchSampler(EpochSampler(n, seed=0), batch_size))
    shards = [list(ShardedBatchSampler(EpochSampler(n, seed=0), batch_size, rank, world)) for rank in range(world)]
    assert all(
        len(shard) == len(shards[0]) == len(ShardedBatchSampler(EpochSampler(n, 0), batch_size, r, world))
        for r, shard in enumerate(shards)
    )
    for step, parts in enumerate(zip(*shards, strict=False)):
        assert sorted(sum(parts, [])) == sorted(single[step])


def test_ema_warms_up_then_averages() -> None:
    model = EquivariantPotential(species=["H", "C"], **TINY_MODEL)
    ema = ExponentialMovingAverage(model, decay=0.9)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    ema.update(model)
    for averaged, initial in zip(ema.model.parameters(), start, strict=False):
        assert torch.allclose(averaged, initial + 0.9)
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert int(ema.num_updates) == 1 and "num_updates" in dict(ema.named_buffers())
