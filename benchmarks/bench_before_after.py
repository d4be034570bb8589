"""Inference speed of two equipot checkouts, their calls interleaved: eager and compiled
energy + forces on one ethanol molecule, a box of 64 ethanols and 108 Cu atoms (and, with
``--structures cu_10976``, 10 976 Cu atoms), and each process's peak memory.

    git worktree add /tmp/equipot_base 0210e74     # the code before
    python benchmarks/bench_before_after.py --before /tmp/equipot_base/src --after src --threads 1

Each checkout runs in its own long-lived process (the same package name cannot be loaded
twice in one); the driver asks them in turn for blocks of calls, alternating which goes
first, so that a slow spell of a shared machine hits both alike. Printed: the median ms
per call of each, and after/before with the range over rounds. Untrained weights (speed
does not depend on their values), float32, the default architecture at ``--channels``.
Compiled models share one compile cache (a temporary folder): where both checkouts trace
the same program they run the same compiled library, and what differs is the code around it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

STRUCTURES = ("ethanol", "ethanol_box", "cu_108", "cu_10976")
DEFAULT_STRUCTURES = ("ethanol", "ethanol_box", "cu_108")
VARIANTS = ("eager", "compiled")
CUTOFF = 5.0  # Å


# ------------------------------------------------------------------ worker
def _ethanol_box():
    import numpy as np
    from ase import Atoms
    from ase.build import molecule

    rng = np.random.default_rng(0)
    spacing, per_side = 5.0, 4  # Å; 64 molecules, as benchmarks/peers/compare.py builds it
    box = Atoms(cell=np.eye(3) * spacing * per_side, pbc=True)
    for index in np.ndindex(per_side, per_side, per_side):
        while True:
            copy = molecule("CH3CH2OH")
            copy.positions -= copy.get_center_of_mass()
            copy.rotate(rng.uniform(0, 360), rng.normal(size=3))
            copy.positions += (np.array(index) + 0.5) * spacing
            trial = box + copy
            distances = trial.get_all_distances(mic=True)[len(box) :, : len(box)]
            if len(box) == 0 or distances.min() > 2.0:
                box = trial
                break
    return box


def worker(args: argparse.Namespace) -> None:
    import torch
    from ase.build import bulk, molecule

    import equipot
    from equipot import EquivariantPotential, graph_from_atoms

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O", "Cu"], cutoff=CUTOFF, num_channels=args.channels).eval()
    model.set_normalization(avg_num_neighbors=20.0)
    if hasattr(model, "compiled"):  # the code before: a compiled mode of the model
        compiled = model.compiled()
    else:
        from equipot.inference import CompiledPotential

        compiled = CompiledPotential(model)
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.02, seed=0)
    builders = {
        "ethanol": lambda: ethanol,
        "ethanol_box": _ethanol_box,
        "cu_108": lambda: _rattled(bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)),
        "cu_10976": lambda: _rattled(bulk("Cu", "fcc", a=3.61, cubic=True) * (14, 14, 14)),
    }
    names = args.structures.split(",")
    graphs = {name: graph_from_atoms(builders[name](), CUTOFF, dtype=torch.float32) for name in names}
    models = {"eager": model, "compiled": compiled}
    start = time.perf_counter()
    for graph in graphs.values():  # compile (or load from the cache) before any timing
        compiled(graph, outputs={"energy", "forces"})
    print(json.dumps({"ready": equipot.__file__, "setup_s": time.perf_counter() - start}), flush=True)
    for line in sys.stdin:
        variant, name, calls = line.split()
        function, graph = models[variant], graphs[name]
        function(graph, outputs={"energy", "forces"})  # warm-up
        durations = []
        for _ in range(int(calls)):
            begin = time.perf_counter()
            function(graph, outputs={"energy", "forces"})
            durations.append(time.perf_counter() - begin)
        print(json.dumps({"ms": 1e3 * statistics.median(durations)}), flush=True)
    import resource

    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def _rattled(atoms):
    atoms.rattle(0.02, seed=0)
    return atoms


# ------------------------------------------------------------------ driver
def _start(src: str, args: argparse.Namespace, cache: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src), "EQUIPOT_CACHE_DIR": cache}
    command = [sys.executable, __file__, "--worker", "--threads", str(args.threads), "--channels", str(args.channels),
               "--structures", args.structures]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)


def _ask(process: subprocess.Popen, request: str | None = None) -> dict:
    if request is not None:
        process.stdin.write(request + "\n")
        process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"a worker stopped (exit code {process.wait()})")
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="src folder of the code before (its equipot package inside)")
    parser.add_argument("--after", default="src", help="src folder of the code after")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10, help="calls per block (its median is the block's figure)")
    parser.add_argument("--structures", default=",".join(DEFAULT_STRUCTURES), help=f"comma-separated, from {STRUCTURES}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.before:
        parser.error("--before is required")
    with tempfile.TemporaryDirectory() as cache:
        versions = {}
        for label, src in (("before", args.before), ("after", args.after)):  # one at a time: they share the cache
            versions[label] = _start(src, args, cache)
            print(f"{label}: {_ask(versions[label])}", flush=True)
        names = args.structures.split(",")
        figures = {(label, v, s): [] for label in versions for v in VARIANTS for s in names}
        for round_ in range(args.rounds):
            order = list(versions) if round_ % 2 == 0 else list(reversed(versions))
            for variant in VARIANTS:
                for name in names:
                    for label in order:
                        figures[(label, variant, name)].append(_ask(versions[label], f"{variant} {name} {args.calls}")["ms"])
        peak = {}
        for label, process in versions.items():
            process.stdin.close()
            peak[label] = _ask(process)["peak_rss_mb"]
            process.wait()
    print(f"\nthreads {args.threads}, channels {args.channels}, {args.rounds} rounds x {args.calls} calls, float32")
    print("| structure | variant | before (ms) | after (ms) | after / before (range over rounds) |")
    print("| --- | --- | --- | --- | --- |")
    for variant in VARIANTS:
        for name in names:
            before, after = figures[("before", variant, name)], figures[("after", variant, name)]
            ratios = [a / b for a, b in zip(after, before)]
            print(f"| {name} | {variant} | {statistics.median(before):.2f} | {statistics.median(after):.2f} | "
                  f"{statistics.median(after) / statistics.median(before):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
    print(f"peak memory of each process (MB): before {peak['before']:.0f}, after {peak['after']:.0f}")


if __name__ == "__main__":
    main()
