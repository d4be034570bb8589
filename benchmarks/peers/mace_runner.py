"""MACE (mace-torch) side of the equipot benchmarks: train, time inference, time a training step.

Run with the MACE environment made by ``benchmarks/peers/setup_peers.sh`` (equipot is not
installed there). Every subcommand sets the thread count before torch is imported, writes
one JSON file (``--json``) and prints it.

``train`` runs MACE's own training CLI (``mace_run_train``, float32, CPU) as a subprocess
with a huge ``--max_num_epochs``, lets it train for ``--minutes`` of wall clock (counted
from MACE's ``===========TRAINING===========`` log line, i.e. after its data loading and
statistics) and stops it with SIGINT. MACE checkpoints (weights + optimizer) after every
epoch whose validation loss improves (``--eval_interval 1``), so the stop loses at most
the epoch in progress. MACE checkpoints hold state dicts only; the model is rebuilt from
the newest loadable checkpoint the way MACE documents for resuming: the same command
with ``--restart_latest --max_num_epochs <checkpoint epoch>``, which loads it, trains no
further epoch and saves the whole model. That model is saved as ``OUT/model.model`` and
evaluated on the test file(s) through MACE's ASE ``MACECalculator`` (float32)::

    benchmarks/.venv-mace/bin/python benchmarks/peers/mace_runner.py train \\
        --train benchmarks/results/data/ethanol_train.xyz \\
        --valid benchmarks/results/data/ethanol_valid.xyz \\
        --test benchmarks/results/data/ethanol_test.xyz \\
        --extra-test hot=benchmarks/results/data/ethanol_hot.xyz \\
        --minutes 45 --threads 1 --cutoff 5.0 --preset matched \\
        --out runs/mace_ethanol --json runs/mace_ethanol/result.json

    # Cu with the stress loss (batch size 4)
    benchmarks/.venv-mace/bin/python benchmarks/peers/mace_runner.py train \\
        --train benchmarks/results/data/cu_train.xyz --valid benchmarks/results/data/cu_valid.xyz \\
        --test benchmarks/results/data/cu_test.xyz --stress --batch-size 4 \\
        --minutes 45 --threads 1 --out runs/mace_cu --json runs/mace_cu/result.json

``infer`` times one energy+forces call (forces by autograd, no create_graph) of a trained
or randomly initialised model on a graph built once outside the timed region::

    benchmarks/.venv-mace/bin/python benchmarks/peers/mace_runner.py infer \\
        --model runs/mace_ethanol/model.model \\
        --structure benchmarks/results/data/ethanol_test.xyz@0 --threads 1 --json infer.json

    benchmarks/.venv-mace/bin/python benchmarks/peers/mace_runner.py infer --untrained --preset matched \\
        --species Cu --cutoff 5.0 --structure benchmarks/results/data/cu_test.xyz@0 \\
        --supercell 2 --repeats 20 --warmup 3 --threads 1 --json infer_cu864.json

``train-step`` times MACE's own training step (``mace.tools.train.take_step``: forward with
``training=True``, MACE's weighted energy/forces(/stress) loss, backward, gradient
clipping, MACE's Adam) on batches built by MACE's data pipeline::

    benchmarks/.venv-mace/bin/python benchmarks/peers/mace_runner.py train-step --untrained \\
        --preset matched --structures benchmarks/results/data/cu_train.xyz --stress \\
        --batch-size 4 --repeats 10 --warmup 2 --threads 1 --json step_cu.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from ase import Atoms

HERE = Path(__file__).resolve().parent

#: architecture of equipot's default model, in mace_run_train options
# fmt: off
MATCHED_ARCHITECTURE = [
    "--hidden_irreps", "64x0e+64x1o",
    "--max_L", "1",
    "--max_ell", "2",
    "--num_interactions", "2",
    "--correlation", "3",
    "--num_radial_basis", "8",
    "--radial_MLP", "[64, 64, 64]",
]
# fmt: on
#: MACE's documented settings for a training set of ~1000 configurations on a CPU budget
#: (``--preset recommended``): the model and loss weights of the 1000-configuration recipe
#: in MACE's docs (docs/examples/training_examples.rst, "Liquid water", ``water_1k_small``:
#: 2 interactions, 64 channels, max_L 0, correlation 3, forces weight 1000, energy weight 10,
#: EMA, stage two), with r_max 5.0, batch size 10, EMA decay 0.99 and AMSGrad of the training
#: example in docs/guide/training.rst, float32 ("a factor of x2 in training", same page), and
#: the stage-two switch (higher energy weight, lower lr) after 80 % of the schedule (1200 of
#: 1500 epochs there): here after ``STAGE_TWO_FRACTION`` of the time budget.
# fmt: off
RECOMMENDED_ARGUMENTS = [
    "--model", "MACE",
    "--num_interactions", "2",
    "--num_channels", "64",
    "--max_L", "0",
    "--correlation", "3",
    "--forces_weight", "1000",
    "--energy_weight", "10",
    "--ema",
    "--ema_decay", "0.99",
    "--amsgrad",
    "--scheduler_patience", "15",
    "--error_table", "PerAtomMAE",
]
# fmt: on
RECOMMENDED_BATCH_SIZE = 10
STAGE_TWO_FRACTION = 0.8
#: learning rate of MACE's stage two (mace_run_train's default ``--swa_lr``)
STAGE_TWO_LR = 1e-3
PRESETS = ("matched", "default", "recommended")
RUN_NAME = "model"
TRAINING_MARKER = "===========TRAINING==========="
#: mace_run_train default for --clip_grad, used by the timed training step
MAX_GRAD_NORM = 10.0


def preset_arguments(preset: str, cutoff: float) -> list[str]:
    """mace_run_train model options of a preset (``default`` keeps MACE's defaults)."""
    architecture = {"matched": MATCHED_ARCHITECTURE, "recommended": RECOMMENDED_ARGUMENTS}.get(preset, [])
    return ["--r_max", str(cutoff), *architecture]


def mace_train_command(
    args: argparse.Namespace, work: Path, max_epochs: int, restart: bool, stage_two_epoch: int | None = None
) -> list[str]:
    """The mace_run_train command line of a ``train`` run (or of its restart); with
    ``stage_two_epoch``, MACE's stage two (``--swa``) from that epoch on."""
    executable = Path(sys.executable).with_name("mace_run_train")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "mace.cli.run_train"]
    # fmt: off
    command += [
        "--name", RUN_NAME,
        "--seed", str(args.seed),
        "--work_dir", str(work),
        "--device", "cpu",
        "--default_dtype", "float32",
        "--train_file", str(Path(args.train).resolve()),
        "--valid_file", str(Path(args.valid).resolve()),
        "--energy_key", "energy",
        "--forces_key", "forces",
        "--E0s", "average",
        "--batch_size", str(args.batch_size),
        "--max_num_epochs", str(max_epochs),
        "--eval_interval", "1",
        "--keep_checkpoints",
        "--plot", "False",
        *preset_arguments(args.preset, args.cutoff),
    ]
    # fmt: on
    if args.stress:
        command += ["--stress_key", "stress", "--loss", "stress"]
    if stage_two_epoch is not None:
        command += ["--swa", "--start_swa", str(stage_two_epoch), "--swa_lr", str(STAGE_TWO_LR)]
    if restart:
        command.append("--restart_latest")
    return command


def save_stage_two_start(stage_two_epoch: int, checkpoint_epoch: int) -> int:
    """``--start_swa`` for the restart that only saves a stage-two model: that restart runs
    with ``--max_num_epochs`` equal to the checkpoint's epoch (so it trains nothing), and
    mace-torch switches stage two off, saving no stage-two model, unless ``start_swa`` is
    below ``max_num_epochs``; when stage two got a single epoch before the stop the two are
    equal. The start only decides the loss of epochs the restart does not train."""
    return min(stage_two_epoch, checkpoint_epoch - 1)


def prepare_stage_two_resume(path: Path) -> None:
    """Let MACE resume a stage-one checkpoint into stage two: its stage-two scheduler (torch's
    SWALR) keeps ``swa_lr`` (and ``initial_lr``) in the optimizer's parameter groups, which
    loading the checkpoint's optimizer state replaces (mace-torch 0.3.16 then fails with
    ``KeyError: 'swa_lr'``). Adds both keys to the saved groups; weights, moments and the
    current learning rate are unchanged."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    for group in checkpoint["optimizer"]["param_groups"]:
        group.setdefault("swa_lr", STAGE_TWO_LR)
        group.setdefault("initial_lr", group["lr"])
    torch.save(checkpoint, path)


def checkpoint_paths(directory: Path) -> list[tuple[int, Path]]:
    """MACE checkpoints of the run, as (epoch, path), newest first."""
    pattern = re.compile(rf"^{RUN_NAME}_run-\d+_epoch-(\d+)(?:_swa)?\.pt$")  # _swa: stage two
    found = []
    if directory.is_dir():
        for path in directory.iterdir():
            match = pattern.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def is_stage_two(path: Path) -> bool:
    return path.name.endswith("_swa.pt")


def prune_checkpoints(directory: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints of each stage (MACE never touches older
    ones again; saving a stage-two model also loads the newest stage-one checkpoint)."""
    found = checkpoint_paths(directory)
    for stage_two in (False, True):
        for _, path in [item for item in found if is_stage_two(item[1]) == stage_two][keep:]:
            path.unlink(missing_ok=True)


def newest_loadable_checkpoint(directory: Path) -> tuple[int, dict] | None:
    """Epoch and content of the newest checkpoint that loads; a file cut short by the
    stop is renamed ``*.partial`` so that ``--restart_latest`` skips it."""
    import torch

    for epoch, path in checkpoint_paths(directory):
        try:
            return epoch, torch.load(path, map_location="cpu", weights_only=False)
        except (RuntimeError, EOFError, pickle.UnpicklingError):  # a file cut short by the stop
            path.rename(path.with_suffix(".pt.partial"))
    return None


def epochs_completed(results_dir: Path, seed: int) -> int:
    """Epochs MACE finished and validated, from its metrics log."""
    path = results_dir / f"{RUN_NAME}_run-{seed}_train.txt"
    if not path.exists():
        return 0
    epochs = set()
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # last line cut by the stop
            continue
        if record.get("mode") == "eval" and record.get("epoch") is not None:
            epochs.add(record["epoch"])
    return len(epochs)


def stop_process_group(process: subprocess.Popen, grace_s: float = 60.0) -> str | None:
    """SIGINT the training process group, SIGKILL it if it has not exited after ``grace_s``;
    the signal that ended it (None if it had already exited)."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        process.wait()
        return None
    try:
        process.wait(timeout=grace_s)
        return "SIGINT"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "SIGKILL"


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_budgeted_training(
    command: list[str], log_path: Path, checkpoints: Path, budget_s: float, children: Any = None
) -> dict[str, Any]:
    """Run mace_run_train until ``budget_s`` seconds after it starts training, then stop it.
    MACE runs in its own session; if this runner is interrupted or terminated, it is stopped too.
    ``children`` (a `curves.ChildrenCpu`) is told the pid, for the learning curve's CPU time."""
    started = time.monotonic()
    training_started: float | None = None
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if children is not None:
        children.pid = process.pid
    try:
        while process.poll() is None:
            now = time.monotonic()
            if training_started is None:
                if TRAINING_MARKER in log_path.read_text(errors="replace"):
                    training_started = now
            elif now - training_started >= budget_s:
                break
            prune_checkpoints(checkpoints, keep=2)
            time.sleep(1.0)
        stop_sent = time.monotonic()
        stopped_by = stop_process_group(process) if process.poll() is None else None
    finally:
        if process.poll() is None:
            stop_process_group(process, grace_s=10.0)
        signal.signal(signal.SIGTERM, previous_handler)
    ended = time.monotonic()
    return {
        "stopped_by": stopped_by,
        "returncode": process.returncode,
        "setup_s": (training_started or stop_sent) - started,
        "training_wall_s": stop_sent - training_started if training_started is not None else 0.0,
        "stop_wait_s": ended - stop_sent,
        "training_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def log_tail(path: Path, n_lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n_lines:])


def predict(calculator: Any, frames: list[Atoms]) -> list[Atoms]:
    """Copies of ``frames`` holding the calculator's energy, forces (and stress where the
    reference has stress) as single-point results."""
    from ase.calculators.singlepoint import SinglePointCalculator

    predicted = []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = calculator
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if "stress" in frame.calc.results:
            results["stress"] = atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, **results)
        predicted.append(atoms)
    return predicted


def evaluate(model_path: Path, test_files: dict[str, str]) -> dict[str, dict]:
    """Test metrics of the model through MACE's ASE calculator, per named test file."""
    from ase.io import read
    from mace.calculators import MACECalculator

    sys.path.insert(0, str(HERE))
    from metrics import errors

    calculator = MACECalculator(model_paths=str(model_path), device="cpu", default_dtype="float32")
    out = {}
    for name, path in test_files.items():
        reference = read(path, index=":")
        started = time.perf_counter()
        out[name] = errors(reference, predict(calculator, reference))
        out[name]["eval_s"] = time.perf_counter() - started
    return out


def parse_extra_tests(items: list[str]) -> dict[str, str]:
    extra = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--extra-test expects NAME=PATH, got {item!r}")
        extra[name] = path
    return extra


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    import mace
    import torch

    extra_tests = parse_extra_tests(args.extra_test)
    if args.batch_size is None:
        args.batch_size = RECOMMENDED_BATCH_SIZE if args.preset == "recommended" else 5
    out = Path(args.out).resolve()
    work = out / "mace_run"
    work.mkdir(parents=True, exist_ok=True)
    checkpoints = work / "checkpoints"
    command = mace_train_command(args, work, max_epochs=1_000_000, restart=False)
    result: dict[str, Any] = {
        "library": "mace",
        "version": mace.__version__,
        "preset": args.preset,
        "arguments": vars(args),
        "mace_command": command,
        "budget_clock": f"from MACE's {TRAINING_MARKER!r} log line (after data loading and statistics)",
    }
    sys.path.insert(0, str(HERE))
    from curves import ChildrenCpu, CurveRecorder, mace_records

    children = ChildrenCpu()
    train_txt = work / "results" / f"{RUN_NAME}_run-{args.seed}_train.txt"
    budget_s = args.minutes * 60.0
    stage_two_epoch = None
    with CurveRecorder(lambda: mace_records(train_txt), children) as curve:
        if args.preset == "recommended":  # stage two after STAGE_TWO_FRACTION of the budget: stop, restart with --swa
            run = run_budgeted_training(command, work / "train.log", checkpoints, STAGE_TWO_FRACTION * budget_s, children)
            if run["stopped_by"] is None and run["returncode"] != 0:  # failed: reported below
                return {**result, **run, "curve": curve.rows, "status": "failed",
                        "error": f"mace_run_train exited with code {run['returncode']}:\n{log_tail(work / 'train.log')}"}
            loaded = newest_loadable_checkpoint(checkpoints)  # also sets aside a file cut short by the stop
            # MACE resumes from its newest (best) checkpoint; stage two starts there
            stage_two_epoch = loaded[0] if loaded else epochs_completed(work / "results", args.seed)
            if loaded:
                prepare_stage_two_resume(checkpoint_paths(checkpoints)[0][1])
            command = mace_train_command(args, work, 1_000_000, restart=True, stage_two_epoch=stage_two_epoch)
            result["mace_stage_two_command"] = command
            second = run_budgeted_training(
                command, work / "train_stage_two.log", checkpoints, budget_s - run["training_wall_s"], children
            )
            run = {**second, "setup_s": run["setup_s"] + second["setup_s"],
                   "training_wall_s": run["training_wall_s"] + second["training_wall_s"],
                   "stage_two_epoch": stage_two_epoch}
        else:
            run = run_budgeted_training(command, work / "train.log", checkpoints, budget_s, children)
    result["curve"] = curve.rows
    result.update(run)
    result["epochs_completed"] = epochs_completed(work / "results", args.seed)
    if run["stopped_by"] is None and run["returncode"] != 0:
        result["status"] = "failed"
        result["error"] = f"mace_run_train exited with code {run['returncode']}:\n{log_tail(work / 'train.log')}"
        return result

    prune_checkpoints(checkpoints, keep=2)
    loaded = newest_loadable_checkpoint(checkpoints)
    if loaded is None:
        result["status"] = "no_checkpoint"
        result["error"] = (
            f"the {args.minutes} min budget ended before MACE finished and validated its first epoch, "
            "so it saved no checkpoint and there is no model to evaluate"
        )
        return result
    checkpoint_epoch, checkpoint = loaded
    stage_two = is_stage_two(checkpoint_paths(checkpoints)[0][1])
    prune_checkpoints(checkpoints, keep=1)
    result["checkpoint_epoch"] = checkpoint_epoch
    result["checkpoint_stage_two"] = stage_two

    # with --swa MACE saves both stages' models; without, it looks for no stage-two checkpoint
    save_stage_two_epoch = save_stage_two_start(stage_two_epoch, checkpoint_epoch) if stage_two else None
    restart = mace_train_command(args, work, max_epochs=checkpoint_epoch, restart=True, stage_two_epoch=save_stage_two_epoch)
    result["mace_restart_command"] = restart
    with open(work / "restart.log", "w") as log:
        finished = subprocess.run(restart, stdout=log, stderr=subprocess.STDOUT, check=False)
    mace_model = work / f"{RUN_NAME}{'_stagetwo' if stage_two else ''}.model"
    if finished.returncode != 0 or not mace_model.exists():
        result["status"] = "failed"
        result["error"] = f"the restart that saves the model failed:\n{log_tail(work / 'restart.log')}"
        return result

    model = torch.load(mace_model, map_location="cpu", weights_only=False)
    state = model.state_dict()
    mismatched = [key for key, value in checkpoint["model"].items() if not torch.equal(state[key], value)]
    if mismatched:
        raise RuntimeError(f"saved model differs from checkpoint epoch {checkpoint_epoch} in {mismatched[:5]}")
    model_path = out / "model.model"
    torch.save(model, model_path)
    result["model_path"] = str(model_path)
    result["n_params"] = sum(p.numel() for p in model.parameters())

    metrics = evaluate(model_path, {"test": args.test, **extra_tests})
    result["test"] = metrics.pop("test")
    result["extra_tests"] = metrics
    result["status"] = "ok"
    return result


def read_structure(spec: str) -> Atoms:
    """``FILE.xyz`` (first frame) or ``FILE.xyz@INDEX``."""
    from ase.io import read

    path, sep, index = spec.rpartition("@")
    if sep and re.fullmatch(r"-?\d+", index):
        return read(path, index=int(index))
    return read(spec, index=0)


def mace_default_args(preset: str, cutoff: float, loss: str) -> argparse.Namespace:
    """mace_run_train's parsed and checked arguments for a preset."""
    from mace import tools

    parsed = tools.build_default_arg_parser().parse_args(
        ["--name", RUN_NAME, "--loss", loss, *preset_arguments(preset, cutoff)]
    )
    checked, _ = tools.check_args(parsed)
    return checked


def build_untrained(
    preset: str, cutoff: float, species: list[str], avg_num_neighbors: float, seed: int
) -> torch.nn.Module:
    """Randomly initialised model of a preset, built by MACE's own model factory."""
    import numpy as np
    import torch
    from ase.data import atomic_numbers
    from mace import tools
    from mace.tools.model_script_utils import configure_model

    margs = mace_default_args(preset, cutoff, loss="weighted")
    margs.compute_energy, margs.compute_dipole, margs.compute_polarizability = True, False, False
    margs.avg_num_neighbors = avg_num_neighbors
    margs.mean, margs.std = 0.0, 1.0
    z_table = tools.AtomicNumberTable(sorted({atomic_numbers[symbol] for symbol in species}))
    torch.manual_seed(seed)
    model, _ = configure_model(margs, None, np.zeros((1, len(z_table))), None, ["Default"], z_table, None)
    return model


def load_model(args: argparse.Namespace, frames: list[Atoms]) -> torch.nn.Module:
    """The trained model of ``--model`` or an untrained one of ``--preset`` in ``--dtype``."""
    import torch

    if args.model:
        model = torch.load(args.model, map_location="cpu", weights_only=False)
    else:
        species = args.species or sorted({s for atoms in frames for s in atoms.get_chemical_symbols()})
        model = build_untrained(args.preset, args.cutoff, species, average_neighbors(frames, args.cutoff), args.seed)
    return model.to(getattr(torch, args.dtype))


def average_neighbors(frames: list[Atoms], cutoff: float) -> float:
    """Mean number of neighbours within ``cutoff``: the message normalisation an untrained
    model gets (MACE computes it from the training set)."""
    from ase.neighborlist import neighbor_list

    edges = sum(len(neighbor_list("i", atoms, cutoff)) for atoms in frames)
    return edges / sum(len(atoms) for atoms in frames)


def atomic_data(model: torch.nn.Module, frames: list[Atoms]) -> list:
    """MACE AtomicData graphs of ``frames``; reference energy/forces/stress come from the
    calculator results, renamed to MACE's REF_* keys as mace_run_train does."""
    from mace import data, tools

    for atoms in frames:
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" in results:
            atoms.info["REF_energy"] = results["energy"]
        if "forces" in results:
            atoms.arrays["REF_forces"] = results["forces"]
        if "stress" in results:
            atoms.info["REF_stress"] = results["stress"]
    configs = data.config_from_atoms_list(frames, key_specification=data.KeySpecification.from_defaults())
    z_table = tools.AtomicNumberTable([int(z) for z in model.atomic_numbers])
    heads = getattr(model, "heads", ["Default"])
    cutoff = float(model.r_max)
    return [data.AtomicData.from_config(config, z_table=z_table, cutoff=cutoff, heads=heads) for config in configs]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(call: Callable[[int], None], warmup: int, repeats: int) -> list[float]:
    """Seconds taken by ``call(i)`` for i in ``warmup .. warmup + repeats - 1`` (the first
    ``warmup`` calls run untimed)."""
    times = []
    for index in range(warmup + repeats):
        started = time.perf_counter()
        call(index)
        if index >= warmup:
            times.append(time.perf_counter() - started)
    return times


def cmd_infer(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from mace.tools import torch_geometric

    torch.set_default_dtype(getattr(torch, args.dtype))
    atoms = read_structure(args.structure)
    if args.supercell:
        atoms = atoms.repeat((args.supercell,) * 3)
    elif args.repeat:
        atoms = atoms.repeat(tuple(args.repeat))
    model = load_model(args, [atoms])
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # as MACECalculator: gradients only w.r.t. positions
    batch = torch_geometric.batch.Batch.from_data_list(atomic_data(model, [atoms])).to_dict()

    def call(_: int) -> None:
        if model(batch, training=False, compute_force=True)["forces"] is None:
            raise RuntimeError("model returned no forces")

    baseline = rss_mb()
    times = timed(call, args.warmup, args.repeats)
    median = statistics.median(times)
    n_atoms = len(atoms)
    return {
        "library": "mace",
        "model": args.model or f"untrained {args.preset}",
        "dtype": args.dtype,
        "threads": args.threads,
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_atoms": n_atoms,
        "n_edges": int(batch["edge_index"].shape[1]),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "median_ms": median * 1e3,
        "min_ms": min(times) * 1e3,
        "atom_steps_per_s": n_atoms / median,
        "us_per_atom": median * 1e6 / n_atoms,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": rss_mb(),
    }


def cmd_train_step(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from ase.io import read
    from mace.tools import torch_geometric
    from mace.tools.scripts_utils import get_loss_fn, get_optimizer, get_params_options
    from mace.tools.train import take_step

    torch.set_default_dtype(getattr(torch, args.dtype))
    n_steps = args.warmup + args.repeats
    frames = read(args.structures, index=f":{n_steps * args.batch_size}")
    if len(frames) < args.batch_size:
        raise SystemExit(f"{args.structures} has {len(frames)} structures, fewer than one batch of {args.batch_size}")
    model = load_model(args, frames)
    model.train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    loader = torch_geometric.dataloader.DataLoader(
        atomic_data(model, frames), batch_size=args.batch_size, shuffle=False, drop_last=True
    )
    batches = list(loader)

    margs = mace_default_args(args.preset, args.cutoff, loss="stress" if args.stress else "weighted")
    loss_fn = get_loss_fn(margs, dipole_only=False, compute_dipole=False)
    optimizer = get_optimizer(margs, get_params_options(margs, model))
    output_args = {"energy": True, "forces": True, "virials": False, "stress": args.stress}
    device = torch.device("cpu")

    def step(index: int) -> None:
        take_step(model, loss_fn, batches[index % len(batches)], optimizer, None, output_args, MAX_GRAD_NORM, device)

    baseline = rss_mb()
    times = timed(step, args.warmup, args.repeats)
    median = statistics.median(times)
    return {
        "library": "mace",
        "model": args.model or f"untrained {args.preset}",
        "dtype": args.dtype,
        "threads": args.threads,
        "n_params": sum(p.numel() for p in model.parameters()),
        "batch_size": args.batch_size,
        "n_batches_cycled": len(batches),
        "atoms_per_batch": [int(b.ptr[-1]) for b in batches],
        "stress": args.stress,
        "loss": str(loss_fn),
        "optimizer": {
            "type": type(optimizer).__name__,
            "lr": margs.lr,
            "amsgrad": margs.amsgrad,
            "weight_decay": margs.weight_decay,
            "clip_grad": MAX_GRAD_NORM,
        },
        "repeats": args.repeats,
        "warmup": args.warmup,
        "median_s": median,
        "min_s": min(times),
        "structures_per_s": args.batch_size / median,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": rss_mb(),
    }


def add_model_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model file saved by `train` (DIR/model.model)")
    source.add_argument("--untrained", action="store_true", help="randomly initialised model of --preset")
    parser.add_argument("--preset", choices=PRESETS, default="matched")
    parser.add_argument(
        "--species", nargs="+", help="element symbols of the untrained model (default: those of the structures)"
    )
    parser.add_argument("--cutoff", type=float, default=5.0, help="r_max of the untrained model")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train with mace_run_train for a wall-clock budget, then test")
    train.add_argument("--train", required=True)
    train.add_argument("--valid", required=True)
    train.add_argument("--test", required=True)
    train.add_argument("--extra-test", action="append", default=[], metavar="NAME=PATH")
    train.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    train.add_argument("--out", required=True, help="run directory (MACE's files, model.model)")
    train.add_argument("--cutoff", type=float, default=5.0)
    train.add_argument("--stress", action="store_true", help="energy+forces+stress loss (--loss stress)")
    train.add_argument("--preset", choices=PRESETS, default="matched")
    train.add_argument("--batch-size", type=int, default=None,
                       help=f"default: {RECOMMENDED_BATCH_SIZE} with --preset recommended (MACE's docs), else 5")
    train.add_argument("--seed", type=int, default=0)

    infer = sub.add_parser("infer", help="time one energy+forces call")
    add_model_options(infer)
    infer.add_argument("--structure", required=True, help="FILE.xyz or FILE.xyz@INDEX")
    size = infer.add_mutually_exclusive_group()
    size.add_argument("--supercell", type=int, help="repeat the structure K x K x K")
    size.add_argument("--repeat", type=int, nargs=3, metavar=("A", "B", "C"))
    infer.add_argument("--repeats", type=int, default=20)
    infer.add_argument("--warmup", type=int, default=3)

    step = sub.add_parser("train-step", help="time one training step")
    add_model_options(step)
    step.add_argument("--structures", required=True)
    step.add_argument("--batch-size", type=int, default=5)
    step.add_argument("--stress", action="store_true")
    step.add_argument("--repeats", type=int, default=10)
    step.add_argument("--warmup", type=int, default=2)

    for subparser in (train, infer, step):
        subparser.add_argument("--threads", type=int, default=1)
        subparser.add_argument("--json", required=True, help="where to write the result")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["MKL_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    command = {"train": cmd_train, "infer": cmd_infer, "train-step": cmd_train_step}[args.command]
    with contextlib.redirect_stdout(sys.stderr):  # MACE prints notices; stdout carries only the JSON
        result = command(args)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, default=str)
    Path(args.json).write_text(text + "\n")
    print(text)
    if result.get("status") == "failed":
        sys.exit(1)


if __name__ == "__main__":
    main()
