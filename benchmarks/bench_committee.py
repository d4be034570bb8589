"""Cost of a committee of N models over one model (energy + forces, and with the spreads).

    python benchmarks/bench_committee.py [--members 4 --channels 16 --repeats 60 --threads 1]

Members of the uncertainty study's size (scripts/uncertainty_study.py: 16 channels, lmax 1,
2 layers, readout 16; random weights: timing does not depend on them), float32, eval mode;
calls on one ethanol molecule (the MD case) and on a batch of 16. Median time per call
over ``--repeats`` calls, the cases taking turns so that machine noise hits all alike.
Expected: N members cost about N times one model.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench_inference import alternating_durations  # benchmarks/ is on the path when run as a script
from equipot import EquivariantPotential
from equipot.data import GraphDataset, batch_graphs
from equipot.data.shipped import read_shipped_dataset
from equipot.uq import Committee


def _member(seed: int, channels: int) -> EquivariantPotential:
    torch.manual_seed(seed)
    return EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=channels, lmax=1, hidden_lmax=1,
                                num_layers=2, correlation=2, radial_hidden=16, readout_hidden=16).eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    members = [_member(seed, args.channels) for seed in range(args.members)]
    committee = Committee(members).eval()
    graphs = GraphDataset(read_shipped_dataset("ethanol", index=":16"), 4.0, dtype=torch.float32).graphs
    cases = {
        "one model": (members[0], set()),
        f"committee of {args.members}": (committee, set()),
        "+ energy_std": (committee, {"energy_std"}),
        "+ forces_std (each member's backward)": (committee, {"energy_std", "forces_std"}),
        "+ all spreads": (committee, {"energy_std", "forces_std", "atomic_energies_std"}),
    }
    for label, graph in (("1 ethanol", graphs[0]), ("16 ethanol", batch_graphs(graphs))):
        calls = {name: _call(potential, graph, extra) for name, (potential, extra) in cases.items()}
        times = alternating_durations(calls, args.repeats, warmup=5)
        base = statistics.median(times["one model"])
        print(f"{label} ({args.threads} thread(s), {args.repeats} calls each)")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:40s} {1e3 * median:8.2f} ms  {median / base:5.2f} x one model")


def _call(potential, graph, extra: set[str]):
    return lambda: potential(graph, outputs={"energy", "forces", *extra}, create_graph=False)


if __name__ == "__main__":
    main()
