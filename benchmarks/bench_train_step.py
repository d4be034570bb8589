"""Training-step time of two equipot checkouts, interleaved: before and after a change.

Each round starts one fresh process per checkout (``PYTHONPATH=<src>``), in turn, that builds
the same model (seeded), runs warm-up steps, then times ``--steps`` training steps (energy
and forces with ``create_graph=True``, an energy + force loss, backward, AdamW step) on the
same batch of shipped ethanol frames, and prints the median step time. The rounds
alternate the order of the checkouts; the table gives the median over rounds and
after / before with its range.

    python benchmarks/bench_train_step.py --before /work/wt_base/src --after src --rounds 5

Only what both checkouts share is used (`EquivariantPotential`, `graph_from_atoms`,
`batch_graphs`, the model call), so it runs on old and new code alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, statistics, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
channels, batch_size, steps = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
from equipot import EquivariantPotential
from equipot.data import batch_graphs, graph_from_atoms
from equipot.data.shipped import read_shipped_dataset
torch.manual_seed(0)
model = EquivariantPotential(species=["H", "C", "O"], cutoff=5.0, num_channels=channels, lmax=2,
                             num_layers=2, correlation=3).train()
frames = read_shipped_dataset("ethanol")[:batch_size]
batch = batch_graphs([graph_from_atoms(a, model.cutoff, dtype=torch.float32) for a in frames])
energy = torch.tensor([a.get_potential_energy() for a in frames], dtype=torch.float32)
forces = torch.cat([torch.tensor(a.get_forces(), dtype=torch.float32) for a in frames])
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
def step():
    optimizer.zero_grad()
    out = model(batch, outputs={"energy", "forces"}, create_graph=True)
    loss = ((out.energy - energy) ** 2).mean() + ((out.forces - forces) ** 2).mean()
    loss.backward()
    optimizer.step()
for _ in range(5):
    step()
times = []
for _ in range(steps):
    start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
print(json.dumps({"median_ms": 1e3 * statistics.median(times)}))
"""


def run(src: str, threads: int, channels: int, batch_size: int, steps: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    command = [sys.executable, "-c", WORKER, str(threads), str(channels), str(batch_size), str(steps)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])["median_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="src folder of the reference checkout")
    parser.add_argument("--after", required=True, help="src folder of the changed checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    timings: dict[str, list[float]] = {"before": [], "after": []}
    for index in range(args.rounds):
        order = ("before", "after") if index % 2 == 0 else ("after", "before")
        for name in order:
            src = args.before if name == "before" else args.after
            timings[name].append(run(src, args.threads, args.channels, args.batch_size, args.steps))
        print(f"round {index + 1}: before {timings['before'][-1]:.1f} ms, after {timings['after'][-1]:.1f} ms", flush=True)
    ratios = [a / b for a, b in zip(timings["after"], timings["before"])]
    print(
        f"median step: before {statistics.median(timings['before']):.1f} ms, after "
        f"{statistics.median(timings['after']):.1f} ms, after/before {statistics.median(ratios):.2f} "
        f"({min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
