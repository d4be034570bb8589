"""Overhead of single-model uncertainty over plain inference (energy + forces).

    python benchmarks/bench_uncertainty_overhead.py [--channels 16 --repeats 200 --threads 1 --rank 4]

A model of the study's size (scripts/single_model_uncertainty_study.py: 16 channels,
lmax 1, 2 layers, readout 16; random weights: timing does not depend on them) with the
estimators fitted on 100 shipped ethanol frames; calls on one ethanol molecule (the MD
case) and on a batch of 16, in float32, eval mode. Each configuration's median time over
``--repeats`` calls, configurations taking turns so that machine noise hits all alike.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench_inference import alternating_durations  # benchmarks/ is on the path when run as a script
from equipot import EquivariantPotential
from equipot.data import GraphDataset, batch_graphs
from equipot.data.shipped import read_shipped_dataset
from equipot.uq import LastLayerUncertainty, UncertaintyPotential, fit_descriptor_distances, fit_last_layer_uncertainty


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rank", type=int, default=4, help="last-layer directions of the low-rank forces_std_exact")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=args.channels, lmax=1,
                                 hidden_lmax=1, num_layers=2, correlation=2, radial_hidden=16, readout_hidden=16).eval()
    graphs = GraphDataset(read_shipped_dataset("ethanol", index=":100"), model.cutoff, dtype=torch.float32).graphs
    last_layer = fit_last_layer_uncertainty(model, graphs[:80], graphs[80:])
    descriptors = fit_descriptor_distances(model, graphs)
    wrapped = UncertaintyPotential(model, last_layer, descriptors).eval()
    low_rank = UncertaintyPotential(model, LastLayerUncertainty.from_state({**last_layer.state(), "force_rank": args.rank})).eval()
    distances = {"descriptor_distance", "max_descriptor_distance", "extrapolating", "mahalanobis_distance"}
    cases = {
        "plain model": (model, set()),
        "wrapper, no uncertainty": (wrapped, set()),
        "+ energy_std": (wrapped, {"energy_std"}),
        "+ energy_std, forces_std (local)": (wrapped, {"energy_std", "forces_std"}),
        "+ distances, flag": (wrapped, distances),
        "+ calculator's default set": (wrapped, {"energy_std", "forces_std", *distances, "max_mahalanobis_distance"}),
        f"+ forces_std_exact (rank {args.rank})": (low_rank, {"forces_std_exact"}),
        f"+ forces_std_exact (K={last_layer.width})": (wrapped, {"forces_std_exact"}),
        "all outputs": (wrapped, set(wrapped.output_specs())),
    }
    for label, graph in (("1 ethanol", graphs[0]), ("16 ethanol", batch_graphs(graphs[:16]))):
        calls = {name: _call(potential, graph, extra) for name, (potential, extra) in cases.items()}
        times = alternating_durations(calls, args.repeats, warmup=5)
        base = statistics.median(times["plain model"])
        print(f"{label} ({args.threads} thread(s), {args.repeats} calls each)")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:36s} {1e3 * median:8.2f} ms  {100 * (median / base - 1):+6.1f} %")


def _call(potential, graph, extra: set[str]):
    return lambda: potential(graph, outputs={"energy", "forces", *extra}, create_graph=False)


if __name__ == "__main__":
    main()
