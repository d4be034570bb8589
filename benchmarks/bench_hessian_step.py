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
import importlib.util
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from ase.calculators.emt import EMT

from equipot import EquivariantPotential
from equipot.data import GraphDataset, LabelKeys, batch_graphs
from equipot.train.losses import (
    HESSIAN_PRODUCTS,
    HESSIAN_PROBES,
    forces_difference_products,
    hessian_errors,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _labels_script():
    spec = importlib.util.spec_from_file_location("generate_hessian_labels", SCRIPTS / "generate_hessian_labels.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_hessian_labels"] = module
    spec.loader.exec_module(module)
    return module


def copper_batch():
    """Four Cu cells with all 96 Hessian columns as labels, batched, probes [n_atoms, 3, 96]."""
    labels = _labels_script()
    rng = np.random.default_rng(0)
    frames = [labels.labelled(atoms, EMT(), labels.probe_vectors(len(atoms), "full", 0, rng), 1e-3)
              for atoms in labels.copper_frames(4, rng)]
    keys = LabelKeys(atom_extra={HESSIAN_PROBES: "hessian_probes", HESSIAN_PRODUCTS: "hessian_products"})
    graph = batch_graphs(GraphDataset(frames, 4.5, keys=keys).graphs)
    for key in (HESSIAN_PROBES, HESSIAN_PRODUCTS):
        graph.atom_targets[key] = graph.atom_targets[key].reshape(graph.n_atoms, 3, -1)
    return graph


def make_step(model: EquivariantPotential, graph, method: str | None):
    """One training step's loss and backward (the optimizer's update is the same for all)."""
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        positions = graph.positions.detach().requires_grad_(True)
        posed = replace(graph, positions=positions)
        output = model(posed, outputs={"energy", "forces"}, create_graph=True)
        loss = output.energy.square().mean() + output.forces.square().mean()
        if method is not None:
            products_of = None
            if method == "forces_difference":
                def forces_at(displaced):
                    return model(replace(graph, positions=displaced), outputs={"forces"}, create_graph=True).forces

                def products_of(probes):
                    return forces_difference_products(forces_at, graph.positions, output.forces, probes, 1e-3)
            errors = hessian_errors(output.forces, positions, posed, create_graph=True, n_probes=1,
                                    generator=generator, mix="gaussian", products_of=products_of)
            loss = loss + errors.square().mean()
        model.zero_grad()
        loss.backward()

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
