"""Inference speed of equipot: energy + forces on fcc Cu cells.

    python benchmarks/bench_inference.py --threads 2 --repeats 20

Prints median ms per call and atom-steps per second for each cell size, with the model's
default hyperparameters (untrained weights: speed does not depend on their values).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from ase.build import bulk

from equipot import EquivariantPotential, graph_from_atoms


def time_calls(function, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        function()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        durations.append(time.perf_counter() - start)
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 7], help="conventional cells per side (4 atoms each)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    model = EquivariantPotential(species=["Cu"], cutoff=5.0, dtype=dtype).to(args.device).eval()
    model.set_normalization(avg_num_neighbors=42.0)
    print(f"model: {model.config.model_dump()}")
    print(f"parameters: {sum(p.numel() for p in model.parameters())}")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, {args.dtype}, device {args.device}")
    results = []
    for size in args.sizes:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (size, size, size)
        atoms.rattle(0.02, seed=0)
        graph = graph_from_atoms(atoms, model.cutoff, dtype=dtype).to(device=args.device)

        def call() -> None:
            model(graph, outputs={"energy", "forces"}, create_graph=False)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()

        durations = time_calls(call, args.repeats, args.warmup)
        median = statistics.median(durations)
        row = {
            "n_atoms": len(atoms),
            "n_edges": graph.n_edges,
            "median_ms": 1e3 * median,
            "atom_steps_per_s": len(atoms) / median,
            "us_per_atom": 1e6 * median / len(atoms),
        }
        results.append(row)
        print(f"{len(atoms):>7d} atoms {graph.n_edges:>9d} edges  median {row['median_ms']:9.1f} ms  "
              f"{row['atom_steps_per_s']:10.0f} atom-steps/s  {row['us_per_atom']:7.1f} us/atom")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"args": vars(args), "results": results}, stream, indent=2)


if __name__ == "__main__":
    main()
