"""Time and memory per atom of equipot's energy + forces from 108 to 100 000 Cu atoms.

    python benchmarks/bench_scaling.py --threads 2 --atoms 108 1000 10000 100000

Each size runs in a fresh process (so its peak resident memory is its own): an fcc Cu
cell of the nearest size ``4 k^3`` (conventional cells, a = 3.61 Å, rattled by 0.02 Å),
the default model (untrained: speed does not depend on the weights), float32, forces by
autograd without ``create_graph``, as the calculator runs it (graphs of more than 32 768
edges take the chunked path of `equipot.nn.chunked_messages`).
Reports the median over repeats after one warm-up call, and the peak resident memory
above the process's baseline before the first call (memory per atom). ``--plain`` forces
the one-piece path (`first_order_only=False`) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def measure(n_atoms: int, threads: int, repeats: int, plain: bool, channels: int) -> dict:
    import resource
    import statistics

    import torch
    from ase.build import bulk
    from bench_inference import time_calls  # benchmarks/ is on the path when run as a script

    from equipot import EquivariantPotential, graph_from_atoms
    from equipot.models.derivatives import derive_outputs

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cells = max(1, round((n_atoms / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (cells, cells, cells)
    atoms.rattle(0.02, seed=0)
    model = EquivariantPotential(species=["Cu"], cutoff=5.0, num_channels=channels).eval()
    model.set_normalization(avg_num_neighbors=42.0)
    graph = graph_from_atoms(atoms, model.cutoff, dtype=torch.float32)

    def call() -> None:
        if plain:
            energy_function = lambda g, p, c: model.atomic_energies_of(g, p, c, first_order_only=False)  # noqa: E731
            derive_outputs(energy_function, graph, {"energy", "forces"}, create_graph=False)
        else:
            model(graph, outputs={"energy", "forces"}, create_graph=False)

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    durations = time_calls(call, repeats, warmup=1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = statistics.median(durations)
    return {
        "n_atoms": len(atoms),
        "n_edges": graph.n_edges,
        "threads": threads,
        "path": "plain" if plain else "default",
        "median_s": median,
        "us_per_atom": 1e6 * median / len(atoms),
        "atom_steps_per_s": len(atoms) / median,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        "kb_per_atom": 1024 * (peak - baseline) / len(atoms),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, nargs="+", default=[108, 1000, 10000, 100000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per size (fewer for the largest)")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--plain", action="store_true", help="the one-shot path instead of the chunked one")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(measure(args.worker, args.threads, args.repeats, args.plain, args.channels)))
        return
    rows = []
    for n_atoms in args.atoms:
        repeats = max(1, min(args.repeats, int(args.repeats * 10000 / max(n_atoms, 1)) or 1))
        command = [sys.executable, __file__, "--worker", str(n_atoms), "--threads", str(args.threads),
                   "--repeats", str(repeats), "--channels", str(args.channels)] + (["--plain"] if args.plain else [])
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"{n_atoms} atoms failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['n_atoms']:>7d} atoms {row['n_edges']:>9d} edges  {row['path']:>7s}  "
              f"{1e3 * row['median_s']:10.1f} ms  {row['us_per_atom']:7.1f} us/atom  "
              f"{row['atom_steps_per_s']:8.0f} atom-steps/s  peak {row['peak_rss_mb']:8.0f} MB  "
              f"{row['kb_per_atom']:6.1f} kB/atom", flush=True)
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"args": vars(args), "rows": rows}, stream, indent=2)


if __name__ == "__main__":
    main()
