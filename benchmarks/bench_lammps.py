"""Throughput of ``pair_style equipot`` in LAMMPS (atom-steps per second) for fcc Cu, on
1 and 2 MPI ranks, against the same model through the ASE calculator, with the peak
memory per rank.

    python benchmarks/bench_lammps.py --sizes 10000 100000 --ranks 1 2 --steps 10 --ase-sizes 10000

A float32 export of an untrained Cu model (speed does not depend on the weights) runs
NVE from 300 K with a 2 fs step: one step to warm up, then ``--steps`` timed by LAMMPS's
own loop time (neighbor lists, ghost exchange and the model, not the setup). Each LAMMPS
run is a fresh process; its peak resident memory (the largest rank) comes from
``getrusage``. A size whose memory, predicted from the kB per atom of the previous size,
would pass ``--max-memory-gb`` is skipped and reported as such. The ASE calculator
(``compile=True``, one thread) is timed on energy and forces of the same cells.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from ase.build import bulk

from equipot import EquipotCalculator, EquivariantPotential
from equipot.lammps import build_plugin, export_for_lammps
from equipot.lammps.runs import lammps_command, lammps_environment

INPUT = """
units metal
atom_style atomic
boundary p p p
lattice fcc 3.61
region box block 0 {cells} 0 {cells} 0 {cells}
create_box 1 box
create_atoms 1 box
mass 1 63.546
neighbor 1.0 bin
plugin load {plugin}
pair_style equipot {model} {options}
pair_coeff * * Cu
velocity all create 300.0 12345 loop geom
fix integrate all nve
timestep 0.002
thermo {steps}
run 1
run {steps}
"""

_PEAK_MEMORY = "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); " \
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"


def build_model(args: argparse.Namespace) -> EquivariantPotential:
    torch.manual_seed(0)
    model = EquivariantPotential(
        species=["Cu"], cutoff=args.cutoff, num_channels=args.channels, lmax=args.lmax, num_layers=2, correlation=2
    )
    model.set_normalization(avg_num_neighbors=40.0, shift=-3.5)
    return model.eval()


def lammps_run(cells: int, ranks: int, steps: int, plugin: Path, model: Path, folder: Path, chunk: int = 0) -> dict:
    script = folder / f"in.bench_{cells}_{ranks}"
    options = f"chunk {chunk}" if chunk else ""
    script.write_text(INPUT.format(cells=cells, plugin=plugin, model=model, steps=steps, options=options))
    command = [sys.executable, "-c", _PEAK_MEMORY, *lammps_command(ranks), "-in", script.name, "-log", "none"]
    result = subprocess.run(command, cwd=folder, env=lammps_environment(1), capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(output[-3000:])
    loops = re.findall(r"Loop time of ([\d.e+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", output)
    seconds, _, timed_steps, atoms = loops[-1]
    ghosts = re.findall(r"Nghost:\s+([\d.e+]+) ave", output)[-1]
    peak_kb = int(re.search(r"PEAK_KB (\d+)", output).group(1))
    cpu_use = float(re.findall(r"([\d.]+)% CPU use", output)[-1]) / 100  # per rank; < 1 on a busy machine
    return {
        "atoms": int(atoms),
        "ranks": ranks,
        "steps": int(timed_steps),
        "seconds": float(seconds),
        "atom_steps_per_s": int(atoms) * int(timed_steps) / float(seconds),
        "cpu_use": cpu_use,
        "atom_steps_per_cpu_s": int(atoms) * int(timed_steps) / (float(seconds) * cpu_use * ranks),
        "ghosts_per_rank": float(ghosts),
        "peak_rank_mb": peak_kb / 1024,
        "kb_per_atom": peak_kb / (int(atoms) / ranks),
    }


def ase_run(model: EquivariantPotential, cells: int, dtype: torch.dtype, repeats: int) -> dict:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (cells, cells, cells)
    atoms.calc = EquipotCalculator(model, dtype=dtype, compile=True)
    durations, cpu_durations = [], []
    for call in range(repeats + 1):
        atoms.rattle(0.01, seed=call)
        start, cpu_start = time.perf_counter(), time.process_time()
        atoms.get_forces()
        if call:  # the first call compiles (cached) and warms up
            durations.append(time.perf_counter() - start)
            cpu_durations.append(time.process_time() - cpu_start)
    seconds = statistics.median(durations)
    return {"atoms": len(atoms), "seconds_per_step": seconds, "atom_steps_per_s": len(atoms) / seconds,
            "cpu_seconds_per_step": statistics.median(cpu_durations), "atom_steps_per_cpu_s": len(atoms) / statistics.median(cpu_durations)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="atoms (rounded to fcc cells)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--ase-sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--ase-repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--lmax", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=4.5)
    parser.add_argument("--max-memory-gb", type=float, default=4.0, help="skip sizes predicted to need more (all ranks)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--export", type=Path, default=None, help="reuse this .pt2 if it exists, else write it there")
    parser.add_argument("--chunk", type=int, default=0, help="pair_style equipot's 'chunk N' (0: one program call per rank)")
    parser.add_argument("--baseline-cells", type=int, default=3, help="a small run first: the memory of an (almost) empty rank")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    model = build_model(args)
    results: dict = {"machine": platform.processor() or platform.machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="bench-lammps-") as scratch:
        folder = Path(scratch)
        start = time.perf_counter()
        plugin = build_plugin()
        results["build_s"] = time.perf_counter() - start
        start = time.perf_counter()
        export = args.export or folder / "model.pt2"
        if not export.is_file():
            export_for_lammps(model, export, dtype=dtype)
            results["export_s"] = time.perf_counter() - start
        print(f"plugin {plugin} ({results['build_s']:.0f} s), export {results.get('export_s', 0):.0f} s", flush=True)
        baseline = lammps_run(args.baseline_cells, 1, 1, plugin, export, folder)
        results["baseline"] = baseline
        baseline_mb = baseline["peak_rank_mb"]
        print("baseline", baseline, flush=True)
        runs, mb_per_atom = [], {}
        for size in args.sizes:
            cells = max(1, round((size / 4) ** (1 / 3)))
            for ranks in args.ranks:
                # memory of all ranks: the empty rank's, plus what each atom took in the last run
                # (with chunks, a call holds at most about --chunk atoms and their halo)
                per_rank = 4 * cells**3 / ranks if not args.chunk else min(4 * cells**3 / ranks, 2 * args.chunk)
                predicted_gb = ranks * (baseline_mb + mb_per_atom.get(ranks, 80 / 1024) * per_rank) / 1024  # 80 kB/atom until measured
                if predicted_gb > args.max_memory_gb:
                    runs.append({"atoms": 4 * cells**3, "ranks": ranks, "skipped": f"predicted {predicted_gb:.1f} GB"})
                    print(runs[-1], flush=True)
                    continue
                runs.append(lammps_run(cells, ranks, args.steps, plugin, export, folder, args.chunk))
                run = runs[-1]
                run["kb_per_atom_above_baseline"] = 1024 * (run["peak_rank_mb"] - baseline_mb) / (run["atoms"] / ranks)
                if not args.chunk:
                    mb_per_atom[ranks] = run["kb_per_atom_above_baseline"] / 1024
                print(run, flush=True)
        results["lammps"] = runs
        results["ase"] = []
        for size in args.ase_sizes:
            cells = max(1, round((size / 4) ** (1 / 3)))
            results["ase"].append(ase_run(model, cells, dtype, args.ase_repeats))
            print(results["ase"][-1], flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print("\n| atoms | ranks | atom-steps/s (wall) | CPU use per rank | µs of CPU per atom-step | ghosts per rank | peak MB per rank | kB per atom above an empty rank |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in results["lammps"]:
        if "skipped" in run:
            print(f"| {run['atoms']} | {run['ranks']} | skipped: {run['skipped']} | | | | | |")
            continue
        cost = 1e6 / run["atom_steps_per_cpu_s"]
        print(f"| {run['atoms']} | {run['ranks']} | {run['atom_steps_per_s']:.0f} | {run['cpu_use']:.0%} | {cost:.1f} "
              f"| {run['ghosts_per_rank']:.0f} | {run['peak_rank_mb']:.0f} | {run['kb_per_atom_above_baseline']:.1f} |")
    for run in results["ase"]:
        print(f"ASE calculator, {run['atoms']} atoms: {run['atom_steps_per_s']:.0f} atom-steps/s (wall), "
              f"{1e6 / run['atom_steps_per_cpu_s']:.1f} µs of CPU per atom-step")


if __name__ == "__main__":
    main()
