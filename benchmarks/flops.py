"""Distance to the limit: floating-point operations of one energy + forces evaluation.

    python benchmarks/flops.py --threads 1 --cells 3 6

Counts the FLOPs of one call with the PyTorch profiler (``with_flops``: matrix products
and elementwise arithmetic it knows how to count), times the call, and compares the
achieved rate with the machine's dense float32 matrix-product rate (a 2048x2048 ``mm``,
the best this CPU does in practice) measured in the same run. Default model, fcc Cu,
float32, chunked first-order path (as the calculator runs it).
"""

from __future__ import annotations

import argparse
import statistics

import torch
from ase.build import bulk
from torch.profiler import ProfilerActivity, profile

from bench_inference import time_calls  # benchmarks/ is on the path when run as a script
from equipot import EquivariantPotential, graph_from_atoms


def median_seconds(function, repeats: int = 5) -> float:
    return statistics.median(time_calls(function, repeats, warmup=1))


def matmul_peak(size: int = 2048) -> float:
    """GFLOP/s of a float32 ``size``-square matrix product."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / median_seconds(lambda: a @ b) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cells", type=int, nargs="+", default=[3, 6], help="conventional cells per side")
    parser.add_argument("--channels", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = EquivariantPotential(species=["Cu"], cutoff=5.0, num_channels=args.channels).eval()
    model.set_normalization(avg_num_neighbors=42.0)
    peak = matmul_peak()
    print(f"threads {args.threads}: dense float32 matmul {peak:.1f} GFLOP/s")
    for cells in args.cells:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (cells, cells, cells)
        atoms.rattle(0.02, seed=0)
        graph = graph_from_atoms(atoms, model.cutoff, dtype=torch.float32)

        def call() -> None:
            model(graph, outputs={"energy", "forces"}, create_graph=False)

        seconds = median_seconds(call)
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            call()
        events = prof.key_averages()
        flops = sum(event.flops for event in events)
        by_op = sorted(((event.flops, event.key) for event in events if event.flops), reverse=True)[:5]
        rate = flops / seconds / 1e9
        print(f"{len(atoms):>6d} atoms {graph.n_edges:>7d} edges: {flops / 1e9:.2f} GFLOP per call "
              f"({flops / len(atoms) / 1e6:.2f} MFLOP/atom, {flops / graph.n_edges / 1e3:.1f} kFLOP/edge), "
              f"{1e3 * seconds:.0f} ms -> {rate:.1f} GFLOP/s = {100 * rate / peak:.0f}% of the matmul rate")
        print("   largest: " + ", ".join(f"{name} {value / flops:.0%}" for value, name in by_op))


if __name__ == "__main__":
    main()
