"""equipot against MACE and NequIP, side by side, in one run.

Needs the peer environments (``bash benchmarks/peers/setup_peers.sh``). Each library runs
in its own process (its own environment), one after the other or ``--parallel`` at a time,
all with the same thread count, the same data splits (``write_splits.py``) and the same
error code (``metrics.py``):

    python benchmarks/peers/compare.py accuracy --minutes 10 --threads 1 --parallel 2
    # issue 17: each library's documented recommended settings, several seeds, learning curves
    python benchmarks/peers/compare.py accuracy --fair --dataset acetamide cuni --seeds 3 --minutes 20 --threads 2
    python benchmarks/peers/compare.py inference --threads 2   # also times CompiledPotential(model)
    python benchmarks/peers/compare.py train-step --threads 2
    python benchmarks/peers/compare.py report          # tables from the JSON files

Results go to ``benchmarks/results/`` (JSON per run, ``summary.md`` with the tables).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DATA = RESULTS / "data"
#: run name -> (library, preset of its runner)
RUNS = {
    "equipot": ("equipot", "matched"),
    "equipot-small": ("equipot", "small"),
    "equipot-compact": ("equipot", "compact"),
    "equipot-tiny": ("equipot", "tiny"),
    "equipot-tiny-r32": ("equipot", "tiny-r32"),
    "equipot-tiny-r16": ("equipot", "tiny-r16"),
    "mace": ("mace", "matched"),
    "nequip": ("nequip", "matched"),
    # the equal-budget comparison (issue 17): each library as its documentation recommends
    "equipot-default": ("equipot", "default"),
    "mace-recommended": ("mace", "recommended"),
    "nequip-recommended": ("nequip", "recommended"),
}
FAIR_RUNS = ("equipot-default", "mace-recommended", "nequip-recommended")
#: dataset -> (default batch size of the matched runs, stress in the loss, has a hot set);
#: the generated ones come from scripts/generate_peer_data.py (write_splits.py --generated)
DATASETS = {
    "ethanol": (5, False, True),
    "cu": (4, True, False),
    "acetamide": (5, False, True),
    "pyridine": (5, False, True),
    "cuni": (4, True, True),
}
LIBRARIES = tuple(RUNS)
#: inference-only runs: a trained model timed through its library's compiled path
#: (equipot: ``CompiledPotential(model)``; NequIP: ``nequip-compile --mode aotinductor``, its
#: recommended way to run a model)
COMPILED_RUNS = {"equipot-compiled": "equipot", "equipot-small-compiled": "equipot-small",
                 "equipot-compact-compiled": "equipot-compact", "equipot-tiny-compiled": "equipot-tiny",
                 "equipot-tiny-r32-compiled": "equipot-tiny-r32", "equipot-tiny-r16-compiled": "equipot-tiny-r16",
                 "nequip-compiled": "nequip",
                 "equipot-default-compiled": "equipot-default", "nequip-recommended-compiled": "nequip-recommended"}
INFERENCE_RUNS = (*LIBRARIES, *COMPILED_RUNS)
PEERS = ("mace", "nequip", "nequip-compiled", "mace-recommended", "nequip-recommended", "nequip-recommended-compiled")
PYTHON = {
    "equipot": sys.executable,
    "mace": str(ROOT / "benchmarks" / ".venv-mace" / "bin" / "python"),
    "nequip": str(ROOT / "benchmarks" / ".venv-nequip" / "bin" / "python"),
}
#: Cu cells for the inference table: conventional cells per side -> 4 k^3 atoms
CU_CELLS = {"cu_108": 3, "cu_864": 6, "cu_10976": 14, "cu_97556": 29}
STRUCTURES = ("ethanol_1", "ethanol_box", *CU_CELLS)
INFERENCE_TIMEOUT_S = 900
#: calls timed per round on one molecule: a few seconds, since this machine's speed changes
#: in spells of seconds (0.5 to 1.1 ms for the same call in one process)
SINGLE_MOLECULE_REPEATS = 3000
#: address-space limit of each inference process: a library that needs more fails with a
#: memory error instead of pushing the machine (24 GB) into swap
INFERENCE_MEMORY_LIMIT_GB = 14


def runner(run_name: str) -> list[str]:
    library = RUNS[COMPILED_RUNS.get(run_name, run_name)][0]
    return [PYTHON[library], str(HERE / f"{library}_runner.py")]


def preset(run_name: str) -> list[str]:
    return ["--preset", RUNS[COMPILED_RUNS.get(run_name, run_name)][1]]


def _limit_memory(gigabytes: float):
    def apply() -> None:
        import resource

        limit = int(gigabytes * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run(command: list[str], log: Path, timeout: float | None = None, memory_gb: float | None = None) -> int:
    """Run ``command`` with its output in ``log``; return its exit status (124: timeout)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    limit = _limit_memory(memory_gb) if memory_gb else None
    with open(log, "w") as stream:
        stream.write(" ".join(command) + "\n")
        stream.flush()
        try:
            return subprocess.run(
                command, stdout=stream, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT, preexec_fn=limit
            ).returncode
        except subprocess.TimeoutExpired:
            stream.write(f"\ntimed out after {timeout} s\n")
            return 124


def ensure_data(datasets: tuple[str, ...] = (), structures: bool = True) -> None:
    """The splits (and the generated ``datasets``' splits) and, with ``structures``, the
    inference structures."""
    if not (DATA / "cu_test.xyz").is_file():
        subprocess.run([sys.executable, str(HERE / "write_splits.py"), "--out", str(DATA)], check=True)
    missing = [name for name in datasets if not (DATA / f"{name}_train.xyz").is_file()]
    if missing:
        subprocess.run([sys.executable, str(HERE / "write_splits.py"), "--out", str(DATA), "--only-generated",
                        "--generated", str(DATA / "generated")], check=True)
    missing = [name for name in missing if not (DATA / f"{name}_train.xyz").is_file()]
    if missing:
        raise SystemExit(f"no data for {', '.join(missing)} in {DATA / 'generated'}: generate it first with "
                         "scripts/generate_peer_data.py (commands in benchmarks/README.md, issue 17)")
    if structures:
        write_structures()


def write_structures() -> None:
    """The inference structures: rattled fcc Cu cells and a 576-atom box of 64 ethanols."""
    import numpy as np
    from ase import Atoms
    from ase.build import bulk
    from ase.io import read, write

    for name, cells in CU_CELLS.items():
        path = DATA / f"{name}.xyz"
        if not path.is_file():
            atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (cells, cells, cells)
            atoms.rattle(0.02, seed=0)
            write(path, atoms, format="extxyz")
    path = DATA / "ethanol_box.xyz"
    if path.is_file():
        return
    molecule = read(DATA / "ethanol_test.xyz", 0)
    rng = np.random.default_rng(0)
    spacing, per_side = 5.0, 4  # Å; 64 molecules, 0.62 g/cm³ (liquid ethanol: 0.79)
    box = Atoms(cell=np.eye(3) * spacing * per_side, pbc=True)
    for index in np.ndindex(per_side, per_side, per_side):
        while True:
            copy = molecule.copy()
            copy.positions -= copy.get_center_of_mass()
            copy.rotate(rng.uniform(0, 360), rng.normal(size=3))
            copy.positions += (np.array(index) + 0.5) * spacing
            trial = box + copy
            distances = trial.get_all_distances(mic=True)[len(box) :, : len(box)]
            if len(box) == 0 or distances.min() > 2.0:
                box = trial
                break
    box.calc = None
    write(path, box, format="extxyz")


def accuracy(args: argparse.Namespace) -> None:
    ensure_data(tuple(args.datasets), structures=False)
    libraries = list(FAIR_RUNS) if args.fair else args.libraries
    jobs = []
    for dataset, library, seed in itertools.product(args.datasets, libraries,
                                                   range(args.first_seed, args.first_seed + args.seeds)):
        batch_size, stress, hot = DATASETS[dataset]
        out = RESULTS / "accuracy" / dataset / library / f"seed{seed}"
        if args.skip_done and _ok(_load(out / "result.json")):
            print(f"{out.relative_to(RESULTS)}: done before, kept", flush=True)
            continue
        command = runner(library) + [
            "train",
            "--train", str(DATA / f"{dataset}_train.xyz"),
            "--valid", str(DATA / f"{dataset}_valid.xyz"),
            "--test", str(DATA / f"{dataset}_test.xyz"),
            "--minutes", str(args.minutes),
            "--threads", str(args.threads),
            "--out", str(out),
            "--json", str(out / "result.json"),
            "--cutoff", "5.0",
            "--seed", str(seed),
            *preset(library),
        ]
        if library not in FAIR_RUNS:  # the fair runs keep their library's recommended batch size
            command += ["--batch-size", str(batch_size)]
        if hot:
            command += ["--extra-test", f"hot={DATA / f'{dataset}_hot.xyz'}"]
        if stress:
            command += ["--stress"]
        jobs.append((command, out / "log.txt"))

    def start(job: tuple[list[str], Path]) -> None:
        command, log = job
        began = time.perf_counter()
        status = run(command, log)
        print(f"[{time.strftime('%H:%M:%S')}] {log.parent.relative_to(RESULTS)}: exit {status} "
              f"after {time.perf_counter() - began:.0f} s", flush=True)

    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(start, jobs))


def trained_model(library: str, dataset: str) -> str | None:
    run_dir = RESULTS / "accuracy" / dataset / COMPILED_RUNS.get(library, library)
    result = run_dir / "seed0" / "result.json"
    if not result.is_file():
        result = run_dir / "result.json"  # written before --seeds
    if not result.is_file():
        return None
    payload = json.loads(result.read_text())
    model = payload.get("model") or payload.get("model_path")
    if model and not Path(model).exists() and "/benchmarks/results/" in model:
        # written from another checkout or worktree: the same file under this one's results
        model = str(RESULTS / model.split("/benchmarks/results/", 1)[1])
    return model


def inference(args: argparse.Namespace) -> None:
    """Time every run on every structure. With ``--rounds N`` the runs alternate N times per
    structure (round-robin, so slow spells of a shared machine hit all of them) and each
    JSON keeps the round with the median speed, plus every round's figure."""
    ensure_data()
    cases = [("ethanol", "ethanol_1", DATA / "ethanol_test.xyz"), ("ethanol", "ethanol_box", DATA / "ethanol_box.xyz")]
    cases += [("cu", name, DATA / f"{name}.xyz") for name in CU_CELLS]
    cases = [case for case in cases if not args.structures or case[1] in args.structures]
    failed: set[tuple[str, str]] = set()  # (library, dataset): larger cells are skipped
    for dataset, name, path in cases:
        rounds: dict[str, list[dict]] = {library: [] for library in args.libraries}
        for _ in range(args.rounds):
            for library in args.libraries:
                if (library, dataset) in failed:
                    continue
                row = _time_inference(args, library, dataset, name, path)
                if row is None:
                    failed.add((library, dataset))
                else:
                    rounds[library].append(row)
        for library, rows in rounds.items():
            if (library, dataset) in failed:
                print(f"{library} {name}: skipped or failed (a smaller {dataset} case failed, see its .log)", flush=True)
                continue
            speeds = [row["atom_steps_per_s"] for row in rows]
            median_row = sorted(rows, key=lambda row: row["atom_steps_per_s"])[len(rows) // 2]
            _inference_json(library, name).write_text(json.dumps({**median_row, "rounds_atom_steps_per_s": speeds}, indent=2))
            print(f"{library:>8s} {name:>12s}: {median_row['median_ms']:10.1f} ms  "
                  f"{median_row['atom_steps_per_s']:9.0f} atom-steps/s  (rounds: {', '.join(f'{v:.0f}' for v in speeds)})",
                  flush=True)


def _inference_json(library: str, name: str) -> Path:
    return RESULTS / "inference" / f"{library}_{name}.json"


def _time_inference(args: argparse.Namespace, library: str, dataset: str, name: str, path: Path) -> dict | None:
    """One runner process timing ``library`` on structure ``name``; None if it failed."""
    model = trained_model(library, dataset)
    source = ["--model", model] if model and not args.untrained else ["--untrained", "--cutoff", "5.0", *preset(library)]
    out = _inference_json(library, name)
    n_atoms = int(name.rsplit("_", 1)[1]) if name.startswith("cu_") else 0
    repeats, warmup = (args.repeats, 3) if n_atoms < 10000 else ((3, 1) if n_atoms < 50000 else (1, 1))
    if name == "ethanol_1":  # ~1 ms calls: time seconds, not milliseconds, of the machine's slow and fast spells
        repeats, warmup = max(repeats, SINGLE_MOLECULE_REPEATS), 200
    command = runner(library) + ["infer", *source, "--structure", f"{path}@0", "--threads", str(args.threads),
                                 "--repeats", str(repeats), "--warmup", str(warmup), "--json", str(out)]
    if library in COMPILED_RUNS:
        command.append("--compile")
    status = run(command, out.with_suffix(".log"), timeout=INFERENCE_TIMEOUT_S, memory_gb=INFERENCE_MEMORY_LIMIT_GB)
    if status != 0:
        print(f"{library} {name}: failed (exit {status}, see {out.with_suffix('.log')})", flush=True)
        return None
    return json.loads(out.read_text())


def train_step(args: argparse.Namespace) -> None:
    ensure_data()
    for library in args.libraries:
        for dataset, batch_size in (("ethanol", 5), ("cu", 4)):
            model = trained_model(library, dataset)
            source = ["--model", model] if model and not args.untrained else ["--untrained", "--cutoff", "5.0", *preset(library)]
            out = RESULTS / "train_step" / f"{library}_{dataset}.json"
            command = runner(library) + ["train-step", *source, "--structures", str(DATA / f"{dataset}_train.xyz"),
                                         "--batch-size", str(batch_size), "--threads", str(args.threads),
                                         "--repeats", str(args.repeats), "--json", str(out)]
            if dataset == "cu":
                command.append("--stress")
            status = run(command, out.with_suffix(".log"))
            if status == 0:
                row = json.loads(out.read_text())
                print(f"{library:>8s} {dataset:>8s}: {row['structures_per_s']:.2f} structures/s", flush=True)
            else:
                print(f"{library} {dataset}: failed (exit {status}, see {out.with_suffix('.log')})", flush=True)


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _ok(row: dict | None) -> dict | None:
    """A result row, or None when the run failed (its JSON then holds an error)."""
    return row if row and "error" not in row and row.get("status", "ok") == "ok" else None


def _ratio(mine: float | None, theirs: float | None) -> str:
    return f"{mine / theirs:.2f}" if mine and theirs else "–"


def report(args: argparse.Namespace) -> None:
    from curve_report import accuracy_report

    lines = accuracy_report(RESULTS / "accuracy", RESULTS / "figures")
    lines += ["", "## Inference: energy + forces (atom-steps per second)", ""]
    lines.append("| structure | atoms | " + " | ".join(INFERENCE_RUNS) + " | peak memory, equipot (GB) |")
    lines.append("| --- " * (len(INFERENCE_RUNS) + 3) + "|")
    ours = [run for run in INFERENCE_RUNS if run not in PEERS]
    ratio_lines = ["", "Ratio to the fastest peer run (MACE, NequIP, NequIP compiled; matched and recommended presets):", ""]
    eager_lines = ["", "Ratio to the faster eager peer (MACE, NequIP, as trained):", ""]
    for table in (ratio_lines, eager_lines):
        table.append("| structure | " + " | ".join(ours) + " |")
        table.append("| --- " * (len(ours) + 1) + "|")
    for name in ("ethanol_1", "ethanol_box", *CU_CELLS):
        raw = {run: _load(_inference_json(run, name)) for run in INFERENCE_RUNS}
        rows = {run: _ok(row) for run, row in raw.items()}
        speed = {k: (v["atom_steps_per_s"] if v else None) for k, v in rows.items()}
        peers = [speed[p] for p in PEERS if speed[p]]
        fastest = max(peers) if peers else None
        atoms = next((v["n_atoms"] for v in rows.values() if v), "–")
        cells = " | ".join(
            f"{speed[k]:,.0f}" if speed[k] else ("failed" if raw[k] is not None else "–") for k in INFERENCE_RUNS
        )
        memory = f"{rows['equipot']['peak_rss_mb'] / 1024:.1f}" if rows["equipot"] else "–"
        lines.append(f"| {name} | {atoms} | {cells} | {memory} |")
        ratio_lines.append(f"| {name} | " + " | ".join(_ratio(speed[run], fastest) for run in ours) + " |")
        eager = max((speed[p] for p in PEERS if speed[p] and p not in COMPILED_RUNS), default=None)
        eager_lines.append(f"| {name} | " + " | ".join(_ratio(speed[run], eager) for run in ours) + " |")
    lines += ratio_lines + eager_lines
    ours = [run for run in LIBRARIES if run not in PEERS]
    ratio_headers = " | ".join(f"{run} / faster peer" for run in ours)
    lines += ["", "## Training throughput (forward, forces, backward, optimizer step; structures per second)", ""]
    lines.append("| data | batch | " + " | ".join(LIBRARIES) + f" | {ratio_headers} |")
    lines.append("| --- " * (len(LIBRARIES) + len(ours) + 2) + "|")
    for dataset, batch in (("ethanol", 5), ("cu", 4)):
        rows = {library: _ok(_load(RESULTS / "train_step" / f"{library}_{dataset}.json")) for library in LIBRARIES}
        speed = {k: (v["structures_per_s"] if v else None) for k, v in rows.items()}
        peers = [speed[p] for p in PEERS if speed.get(p)]
        fastest = max(peers) if peers else None
        cells = " | ".join(f"{speed[k]:.2f}" if speed[k] else "–" for k in LIBRARIES)
        ratios = " | ".join(_ratio(speed[run], fastest) for run in ours)
        lines.append(f"| {dataset} | {batch} | {cells} | {ratios} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "summary.md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    for name in ("accuracy", "inference", "train-step", "report"):
        stage = sub.add_parser(name)
        runs = INFERENCE_RUNS if name == "inference" else LIBRARIES
        stage.add_argument("--libraries", nargs="+", default=list(runs), choices=runs, metavar="RUN")
        stage.add_argument("--threads", type=int, default=1)
        stage.add_argument("--untrained", action="store_true", help="time untrained models of the same presets")
        stage.add_argument("--repeats", type=int, default=20)
    sub.choices["inference"].add_argument("--rounds", type=int, default=1, help="alternate the runs this many times")
    sub.choices["inference"].add_argument("--structures", nargs="+", choices=STRUCTURES, help="default: all")
    sub.choices["accuracy"].add_argument("--minutes", type=float, default=10.0)
    sub.choices["accuracy"].add_argument("--parallel", type=int, default=1)
    sub.choices["accuracy"].add_argument("--datasets", "--dataset", nargs="+", default=["ethanol", "cu"],
                                         choices=sorted(DATASETS), metavar="NAME", help=f"of {sorted(DATASETS)}")
    sub.choices["accuracy"].add_argument("--seeds", type=int, default=1,
                                         help="train seeds FIRST..FIRST+N-1 of every run")
    sub.choices["accuracy"].add_argument("--first-seed", type=int, default=0, metavar="FIRST",
                                         help="first seed (add seeds in a checkout without the earlier results)")
    sub.choices["accuracy"].add_argument("--skip-done", action="store_true",
                                         help="keep runs whose result.json says ok (add seeds across sessions)")
    sub.choices["accuracy"].add_argument("--fair", action="store_true",
                                         help=f"run {', '.join(FAIR_RUNS)} (issue 17) instead of --libraries")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    {"accuracy": accuracy, "inference": inference, "train-step": train_step, "report": report}[args.stage](args)


if __name__ == "__main__":
    main()
