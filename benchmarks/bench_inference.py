"""Inference speed of equipot: energy + forces on fcc Cu cells.

    python benchmarks/bench_inference.py --threads 2 --repeats 20
    python benchmarks/bench_inference.py --threads 1 --channels 16 --radial-hidden 64 32 16 --compile
    python benchmarks/bench_inference.py --threads 2 --channels 64 48 32

Prints median ms per call and atom-steps per second for each cell size, with the model's
default hyperparameters unless given (untrained weights: speed does not depend on their
values). With several ``--channels`` or ``--radial-hidden`` values, one model per
combination is built and their calls alternate in this one process, so that a slow spell
of a shared machine hits all of them alike.
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


def compiled(model: EquivariantPotential):
    from equipot.inference import CompiledPotential

    return CompiledPotential(model)

CUTOFF = 5.0  # Å


def time_calls(function, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        function()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        durations.append(time.perf_counter() - start)
    return durations


def alternating_durations(
    functions: dict[str, object], repeats: int, warmup: int, calls_per_block: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function, the functions taking turns ``repeats`` times with
    a block of ``calls_per_block`` calls each; one figure per block, its median call."""
    for function in functions.values():
        time_calls(function, repeats=0, warmup=warmup)
    durations: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            durations[name].append(statistics.median(time_calls(function, repeats=calls_per_block, warmup=0)))
    return durations


def build_model(
    args: argparse.Namespace, channels: int | None, radial_hidden: int | None, dtype: torch.dtype
) -> EquivariantPotential:
    fields = {"species": ["Cu"], "cutoff": CUTOFF}
    if channels:
        fields["num_channels"] = channels
    if radial_hidden:
        fields["radial_hidden"] = radial_hidden
    torch.manual_seed(0)
    model = EquivariantPotential(dtype=dtype, **fields).to(args.device).eval()
    model.set_normalization(avg_num_neighbors=42.0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 7], help="conventional cells per side (4 atoms each)")
    parser.add_argument("--channels", type=int, nargs="+", default=[None],
                        help="num_channels to compare (default: the model's default)")
    parser.add_argument("--radial-hidden", type=int, nargs="+", default=[None],
                        help="radial MLP widths to compare (default: the model's default)")
    parser.add_argument("--compile", action="store_true", help="time CompiledPotential(model) (compilation not timed)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    models = {
        (channels, width): build_model(args, channels, width, dtype)
        for channels in args.channels
        for width in args.radial_hidden
    }
    for model in models.values():
        print(f"model: {model.config.model_dump()}, parameters: {sum(p.numel() for p in model.parameters())}")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, {args.dtype}, device {args.device}, compiled {args.compile}")
    results = []
    for size in args.sizes:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (size, size, size)
        atoms.rattle(0.02, seed=0)
        graph = graph_from_atoms(atoms, CUTOFF, dtype=dtype).to(device=args.device)

        def caller(model: EquivariantPotential):
            def call() -> None:
                model(graph, outputs={"energy", "forces"}, create_graph=False)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()

            return call

        runners = {key: compiled(model) if args.compile else model for key, model in models.items()}
        durations = alternating_durations({key: caller(runner) for key, runner in runners.items()}, args.repeats, args.warmup)
        for key, model in models.items():
            median = statistics.median(durations[key])
            row = {
                "num_channels": model.config.num_channels,
                "radial_hidden": model.config.radial_hidden,
                "n_atoms": len(atoms),
                "n_edges": graph.n_edges,
                "median_ms": 1e3 * median,
                "atom_steps_per_s": len(atoms) / median,
                "us_per_atom": 1e6 * median / len(atoms),
            }
            results.append(row)
            print(f"{len(atoms):>7d} atoms {graph.n_edges:>9d} edges  channels {row['num_channels']:>3d}  "
                  f"radial_hidden {row['radial_hidden']:>3d}  "
                  f"median {row['median_ms']:9.1f} ms  {row['atom_steps_per_s']:10.0f} atom-steps/s  "
                  f"{row['us_per_atom']:7.1f} us/atom")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"args": vars(args), "results": results}, stream, indent=2)


if __name__ == "__main__":
    main()
