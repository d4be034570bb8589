"""Ways to take the Jacobian behind the exact last-layer force variance, timed against
plain energy + forces.

    python benchmarks/bench_force_variance_backward.py [--repeats 25 --threads 1]

The exact ``forces_std_exact`` needs ``d(F_s . v_k)/dr`` for each of the K = 32 last-layer
directions ``v_k`` (`equipot.uq.last_layer`). Cases, each a forward pass plus:

- ``plain``: one backward (the forces);
- ``batched K``: the forces, then one ``autograd.grad(..., is_grads_batched=True)`` over the
  K directions (what the library does);
- ``loop K``: the forces, then K plain ``autograd.grad(retain_graph=True)`` calls;
- ``stacked r``: one batched backward over the energy and r directions together (r = 1, 4):
  the forces' backward shared with the variance's.

Model of the uncertainty study's size (16 channels, lmax 1, 2 layers, readout 16; random
weights), float32, one ethanol and 16; the cases take turns (medians).
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench_inference import alternating_durations  # benchmarks/ is on the path when run as a script
from equipot import EquivariantPotential
from equipot.data import GraphDataset, batch_graphs
from equipot.data.shipped import read_shipped_dataset
from equipot.uq import fit_last_layer_uncertainty
from equipot.uq.features import readout_weights
from equipot.uq.last_layer import structure_features


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=16, lmax=1, hidden_lmax=1,
                                 num_layers=2, correlation=2, radial_hidden=16, readout_hidden=16).eval()
    graphs = GraphDataset(read_shipped_dataset("ethanol", index=":40"), model.cutoff, dtype=torch.float32).graphs
    projection = fit_last_layer_uncertainty(model, graphs[:30], graphs[30:]).force_projection.detach()  # [K, K]
    weights = readout_weights(model).detach()

    def case(graph, mode: str, rank: int):
        def call() -> None:
            positions = graph.positions.detach().requires_grad_(True)
            _, summed = structure_features(model, graph, positions)
            energy = (summed @ weights).sum()
            directions = (summed @ projection[:, :rank]).sum(0)  # [rank]
            if mode == "stacked":
                rows = torch.cat([energy.unsqueeze(0), directions])
                torch.autograd.grad(rows, positions, torch.eye(rank + 1), is_grads_batched=True)
                return
            torch.autograd.grad(energy, positions, retain_graph=mode != "plain")
            if mode == "batched":
                torch.autograd.grad(directions, positions, torch.eye(rank), is_grads_batched=True)
            elif mode == "loop":
                for k in range(rank):
                    torch.autograd.grad(directions[k], positions, retain_graph=True)
        return call

    width = projection.shape[0]
    for label, graph in (("1 ethanol", graphs[0]), ("16 ethanol", batch_graphs(graphs[:16]))):
        calls = {
            "plain": case(graph, "plain", 1),
            f"batched K={width}": case(graph, "batched", width),
            f"loop K={width}": case(graph, "loop", width),
            "stacked r=1": case(graph, "stacked", 1),
            "stacked r=4": case(graph, "stacked", 4),
        }
        times = alternating_durations(calls, args.repeats, warmup=3)
        base = statistics.median(times["plain"])
        print(f"{label} ({args.threads} thread(s), {args.repeats} calls each)")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:16s} {1e3 * median:8.2f} ms  {median / base:6.2f}x")


if __name__ == "__main__":
    main()
