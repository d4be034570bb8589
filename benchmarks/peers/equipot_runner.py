"""equipot's side of the side-by-side benchmark, with the same interface as the peer runners.

Runs in equipot's own environment. Subcommands (each writes ``--json``):

    python benchmarks/peers/equipot_runner.py train --train T.xyz --valid V.xyz --test X.xyz \\
        --minutes 15 --threads 1 --out DIR [--stress] [--extra-test hot=H.xyz]
    python benchmarks/peers/equipot_runner.py infer --model DIR/model.pt --structure X.xyz@0 \\
        [--supercell 3] --threads 1 --json out.json
    python benchmarks/peers/equipot_runner.py train-step --model DIR/model.pt --structures T.xyz \\
        --batch-size 4 [--stress] --threads 1 --json out.json

``train`` uses `equipot.train.fit` (the same code as ``equipot train``) with the
``matched`` preset (64 channels, node l <= 1, edge l <= 2, 2 layers, correlation 3: MACE's
``64x0e+64x1o`` model), ``small``, ``compact`` or ``tiny`` (the same with 32, 24 or 16
channels); test errors come from equipot's ASE calculator through the shared
`metrics.errors`. ``--preset default`` trains with equipot's own defaults (the
equal-budget comparison of issue 17). The result JSON holds the learning curve (``curve``:
epoch, wall s, CPU s, validation force MAE, see ``curves.py``). ``infer`` times energy + forces of the model on a graph built once
(neighbour list excluded, as for the peers); ``train-step`` times forward, forces
(+ stress) with ``create_graph``, loss, backward and an optimizer step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PRESETS = {
    # equipot's defaults for a new task: the ModelSection defaults (48 channels, l <= 2 edges,
    # l <= 1 nodes, 2 layers, correlation 3) and, in `train`, the TrainConfig defaults
    "default": {},
    "matched": {"num_channels": 64, "lmax": 2, "hidden_lmax": 1, "num_layers": 2, "correlation": 3},
    "small": {"num_channels": 32, "lmax": 2, "hidden_lmax": 1, "num_layers": 2, "correlation": 3},
    "compact": {"num_channels": 24, "lmax": 2, "hidden_lmax": 1, "num_layers": 2, "correlation": 3},
    "tiny": {"num_channels": 16, "lmax": 2, "hidden_lmax": 1, "num_layers": 2, "correlation": 3},
    # tiny with a narrower radial MLP: the MLP on edges is most of the work of a 16-channel model
    "tiny-r32": {"num_channels": 16, "lmax": 2, "hidden_lmax": 1, "num_layers": 2, "correlation": 3, "radial_hidden": 32},
    "tiny-r16": {"num_channels": 16, "lmax": 2, "hidden_lmax": 1, "num_layers": 2, "correlation": 3, "radial_hidden": 16},
}


def _threads(count: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(count)
    import torch

    torch.set_num_threads(count)


def _read(spec: str):
    from ase.io import read

    path, _, index = spec.partition("@")
    return read(path, index=index or ":") if not index else [read(path, index=int(index))]


def _write_json(path: str, payload: dict) -> None:
    text = json.dumps(payload, indent=2)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    print(text)


def _predict(model_path: Path, frames: list) -> list:
    from ase.calculators.singlepoint import SinglePointCalculator

    from equipot import EquipotCalculator

    calculator = EquipotCalculator.from_file(model_path)
    predicted = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = calculator
        properties = ["energy", "forces"] + (["stress"] if atoms.pbc.all() else [])
        calculator.calculate(copy, properties)
        result = {key: calculator.results[key] for key in properties}
        copy.calc = SinglePointCalculator(copy, **result)
        predicted.append(copy)
    return predicted


def _train_settings(args: argparse.Namespace, out: Path) -> dict:
    """The TrainConfig of a run. ``default``: equipot's own defaults (`TrainConfig` and
    `ModelSection` field defaults, batch size 8 unless --batch-size), with, for data with
    stress, the stress weight of examples/cu_emt.yaml (the default weight 0 ignores stress).
    The other presets: their architecture with the settings of examples/ethanol_long.yaml."""
    common = {
        "data": {"train_file": args.train, "valid_file": args.valid},
        "max_epochs": 100000,
        "max_time_minutes": args.minutes,
        "seed": args.seed,
        "threads": args.threads,
        "output_dir": str(out / "run"),
    }
    if args.preset == "default":
        settings = {**common, "model": {**PRESETS["default"], "cutoff": args.cutoff}}
        if args.stress:
            settings["loss"] = {"stress_weight": 1000.0}
        if args.batch_size is not None:
            settings["batch_size"] = args.batch_size
        return settings
    return {
        **common,
        "model": {**PRESETS[args.preset], "cutoff": args.cutoff},
        # the weights of examples/ethanol_long.yaml and, with stress, examples/cu_emt.yaml
        "loss": (
            {"energy_weight": 10.0, "forces_weight": 10.0, "stress_weight": 1000.0}
            if args.stress
            else {"energy_weight": 1.0, "forces_weight": 10.0}
        ),
        "optimizer": {"name": "amsgrad", "lr": 0.01},
        "scheduler": {"name": "plateau", "factor": 0.5, "patience": 5},
        "batch_size": args.batch_size or 5,
    }


def train(args: argparse.Namespace) -> None:
    _threads(args.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from metrics import errors

    import equipot
    from equipot.config import TrainConfig
    from equipot.train import fit

    out = Path(args.out)
    config = TrainConfig.model_validate(_train_settings(args, out))
    from curves import CurveRecorder, equipot_records, own_age_seconds, own_cpu_seconds

    start = time.perf_counter()
    # clocks from this process's start (imports, data, statistics), as for the peers' launched processes
    with CurveRecorder(lambda: equipot_records(out / "run" / "metrics.csv"), own_cpu_seconds,
                       launched_s_ago=own_age_seconds(), cpu_baseline=0.0) as curve:
        result = fit(config)
    wall = time.perf_counter() - start
    from ase.io import read

    tests = {"test": args.test, **dict(item.split("=", 1) for item in args.extra_test)}
    metrics = {name: errors(read(path, ":"), _predict(result.best_model_path, read(path, ":"))) for name, path in tests.items()}
    model = equipot.load_model(result.best_model_path)
    _write_json(
        args.json or str(out / "result.json"),
        {
            "library": "equipot",
            "version": equipot.__version__,
            "preset": args.preset,
            "config": config.model_dump(mode="json"),
            "n_params": sum(p.numel() for p in model.parameters()),
            "epochs": result.epochs_trained,
            "train_seconds": wall,
            "test": metrics.pop("test"),
            "extra": metrics,
            "curve": curve.rows,
            "model": str(result.best_model_path),
        },
    )


def _model_and_frames(args: argparse.Namespace, spec: str):
    import torch

    import equipot

    frames = _read(spec)
    if args.untrained:
        species = sorted({symbol for atoms in frames for symbol in atoms.get_chemical_symbols()})
        torch.manual_seed(0)
        model = equipot.EquivariantPotential(species=species, cutoff=args.cutoff, **PRESETS[args.preset])
        model.set_normalization(avg_num_neighbors=40.0)
    else:
        model = equipot.load_model(args.model)
    return model, frames


def infer(args: argparse.Namespace) -> None:
    _threads(args.threads)
    import resource
    import statistics

    import torch

    from equipot import graph_from_atoms

    model, frames = _model_and_frames(args, args.structure)
    if args.compile:
        from equipot.inference import CompiledPotential

        model = CompiledPotential(model)
    else:
        model = model.eval()
    atoms = frames[0].repeat(args.supercell) if args.supercell > 1 else frames[0]
    graph = graph_from_atoms(atoms, model.cutoff, dtype=torch.float32)

    def call() -> None:
        model(graph, outputs={"energy", "forces"}, create_graph=False)

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    call()  # with --compile: compiles (or loads inductor's cache)
    first_call = time.perf_counter() - start
    for _ in range(args.warmup - 1):
        call()
    durations = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    median = statistics.median(durations)
    _write_json(
        args.json,
        {
            "library": "equipot",
            "n_atoms": len(atoms),
            "n_edges": graph.n_edges,
            "median_ms": 1e3 * median,
            "atom_steps_per_s": len(atoms) / median,
            "us_per_atom": 1e6 * median / len(atoms),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "baseline_rss_mb": baseline,
            "repeats": args.repeats,
            "compiled": args.compile,
            "first_call_s": first_call,
        },
    )


def train_step(args: argparse.Namespace) -> None:
    _threads(args.threads)
    import statistics

    import torch

    from equipot import graph_from_atoms
    from equipot.data import LabelKeys, batch_graphs

    model, frames = _model_and_frames(args, args.structures)
    model = model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    outputs = {"energy", "forces"} | ({"stress"} if args.stress else set())
    batches = []
    for start in range(0, args.batch_size * (args.repeats + args.warmup), args.batch_size):
        chosen = [frames[(start + k) % len(frames)] for k in range(args.batch_size)]
        graphs = [graph_from_atoms(a, model.cutoff, keys=LabelKeys(), dtype=torch.float32) for a in chosen]
        batches.append(batch_graphs(graphs))

    def step(batch) -> None:
        optimizer.zero_grad()
        prediction = model(batch, outputs=outputs, create_graph=True)
        targets = {**batch.graph_targets, **batch.atom_targets}
        loss = ((prediction.energy - targets["energy"]) ** 2).mean() + ((prediction.forces - targets["forces"]) ** 2).mean()
        if args.stress:
            loss = loss + ((prediction.stress - targets["stress"]) ** 2).mean()
        loss.backward()
        optimizer.step()

    durations = []
    for index, batch in enumerate(batches):
        start = time.perf_counter()
        step(batch)
        if index >= args.warmup:
            durations.append(time.perf_counter() - start)
    median = statistics.median(durations)
    _write_json(
        args.json,
        {
            "library": "equipot",
            "batch_size": args.batch_size,
            "median_s_per_step": median,
            "structures_per_s": args.batch_size / median,
            "repeats": args.repeats,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--extra-test", action="append", default=[], metavar="NAME=PATH")
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stress", action="store_true")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: 8 (TrainConfig's) with --preset default, else 5")
    for q in (p, sub.add_parser("infer"), sub.add_parser("train-step")):
        q.add_argument("--threads", type=int, default=1)
        q.add_argument("--json", default=None)
        q.add_argument("--preset", choices=sorted(PRESETS), default="matched")
        q.add_argument("--cutoff", type=float, default=5.0)
        q.add_argument("--seed", type=int, default=0)
    for name in ("infer", "train-step"):
        q = sub.choices[name]
        q.add_argument("--model")
        q.add_argument("--untrained", action="store_true")
        q.add_argument("--repeats", type=int, default=20 if name == "infer" else 10)
        q.add_argument("--warmup", type=int, default=3 if name == "infer" else 2)
    sub.choices["infer"].add_argument("--structure", required=True, help="FILE.xyz@INDEX")
    sub.choices["infer"].add_argument("--supercell", type=int, default=1)
    sub.choices["infer"].add_argument("--compile", action="store_true", help="time CompiledPotential(model) (AOTInductor)")
    sub.choices["train-step"].add_argument("--structures", required=True)
    sub.choices["train-step"].add_argument("--batch-size", type=int, default=5)
    sub.choices["train-step"].add_argument("--stress", action="store_true")
    args = parser.parse_args()
    {"train": train, "infer": infer, "train-step": train_step}[args.command](args)


if __name__ == "__main__":
    main()
