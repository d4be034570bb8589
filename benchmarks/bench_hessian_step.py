"""Cost of one training step with the Hessian term, by `loss.hessian_method`.

The model of scripts/hessian_phonons_cu.py (16 channels, 2 layers, l <= 1, cutoff 4.5 Å,
float64) on one batch of four strained, rattled 32-atom fcc Cu cells with full EMT Hessian
labels (scripts/generate_hessian_labels.py, ``--mode full``). Timed per step: energies and
forces with ``create_graph=True``, an energy + force loss, and backward to the weights,

- without the Hessian term;
- ``exact``: plus one Gaussian mixture of the stored columns, H v by a second backward pass
  through the forces (`hessian_vector_products`);
- ``forces_difference``: the same mixture, H v = (F(r) - F(r + h v)) / h from one more force
  evaluation (`forces_difference_products`).

The three take turns ``--rounds`` times (so the machine's load hits them alike), each round
``--steps`` steps after one warm-up; medians of the per-round means and their ratio to the
step without the term::

    python benchmarks/bench_hessian_step.py --threads 1 --rounds 5 --steps 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.calculators.emt import EMT

from equipot import EquivariantPotential
from equipot.config import TrainConfig
from equipot.data import GraphDataset, LabelKeys, batch_graphs
from equipot.train.data import prepare_hessian_labels
from equipot.train.losses import HESSIAN_PRODUCTS, HESSIAN_PROBES
from equipot.train.module import PotentialModule

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))
import generate_hessian_labels as labels  # noqa: E402  scripts/generate_hessian_labels.py


def copper_batch():
    """Four Cu cells with all 96 Hessian columns as labels, in the loss's layout, batched."""
    rng = np.random.default_rng(0)
    frames = [labels.labelled(atoms, EMT(), labels.probe_vectors(len(atoms), "full", 0, rng), 1e-3)
              for atoms in labels.copper_frames(4, rng)]
    keys = LabelKeys(atom_extra={HESSIAN_PROBES: "hessian_probes", HESSIAN_PRODUCTS: "hessian_products"})
    dataset = GraphDataset(frames, 4.5, keys=keys)
    prepare_hessian_labels(dataset)
    return batch_graphs(dataset.graphs)


def make_step(model: EquivariantPotential, graph, method: str | None):
    """The loss and backward of one training step, through `PotentialModule`'s own errors
    and loss (the optimizer's update is the same with or without the term)."""
    loss = {"energy_weight": 1.0, "forces_weight": 10.0}
    if method is not None:
        loss |= {"hessian_weight": 10.0, "hessian_probes": 1, "hessian_probe_mix": "gaussian", "hessian_method": method}
    config = TrainConfig.model_validate({"data": {"train_file": "unused.xyz"}, "loss": loss, "ema": {"enabled": False}})
    module = PotentialModule(model, config)
    weights = module.loss_weights(0)

    def step() -> None:
        errors = module._errors(model, graph, {"energy", "forces"}, method is not None, training=True)
        model.zero_grad()
        module.loss_fn(errors, weights).backward()

    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = EquivariantPotential(species=["Cu"], cutoff=4.5, num_channels=16, lmax=1, hidden_lmax=1, num_layers=2,
                                 dtype=torch.float64)
    model.set_normalization(avg_num_neighbors=42.0)
    graph = copper_batch()
    steps = {name: make_step(model, graph, method) for name, method in
             (("without the term", None), ("exact", "exact"), ("forces_difference", "forces_difference"))}
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(args.rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            seconds[name].append((time.perf_counter() - started) / args.steps)
    base = statistics.median(seconds["without the term"])
    print(f"Cu, 4 x 32 atoms, 16 channels, float64, {args.threads} thread(s); {args.rounds} rounds of {args.steps} steps")
    print("| step | seconds (median) | ratio | rounds |")
    print("| --- | --- | --- | --- |")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / base:.2f}x | "
              f"{', '.join(f'{v:.3f}' for v in values)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
