"""NequIP side of the equipot benchmarks: train, time inference, time training steps.

Run with the NequIP environment made by ``benchmarks/peers/setup_peers.sh`` (nequip 0.19.1,
torch CPU); equipot is not needed. Every subcommand sets the thread count before torch is
imported, writes one JSON file (``--json``) and prints it.

``train``: trains with NequIP's own pipeline, ``nequip-train`` with a hydra config that
the runner writes into ``--out`` from ``benchmarks/peers/nequip/train.yaml`` and the model
preset from ``benchmarks/peers/nequip/models.yaml``, float32, stopped by Lightning's
``max_time`` after ``--minutes``. Loss: per-atom energy + forces MSE, plus stress with
``--stress``. The best checkpoint (EMA weights, lowest validation error; else the last
one) is then evaluated through ``NequIPCalculator`` on the test file(s)::

    benchmarks/.venv-nequip/bin/python benchmarks/peers/nequip_runner.py train \\
        --train benchmarks/results/data/ethanol_train.xyz \\
        --valid benchmarks/results/data/ethanol_valid.xyz \\
        --test benchmarks/results/data/ethanol_test.xyz \\
        --extra-test hot=benchmarks/results/data/ethanol_hot.xyz \\
        --minutes 30 --threads 1 --cutoff 5.0 --preset matched \\
        --out /tmp/nequip_ethanol --json /tmp/nequip_ethanol/result.json

``infer``: median time of one energy + forces evaluation of the model on one structure,
the input (``AtomicDataDict`` with its neighbour list) built once outside the timed
region, then only the model call timed, as ``NequIPCalculator`` makes it::

    benchmarks/.venv-nequip/bin/python benchmarks/peers/nequip_runner.py infer \\
        --untrained --preset matched --species Cu --cutoff 5.0 \\
        --structure benchmarks/results/data/cu_test.xyz@0 --supercell 2 \\
        --repeats 20 --warmup 3 --threads 1 --json /tmp/nequip_infer.json

``infer --compile`` times NequIP's recommended inference path instead of the eager model:
the ``--model`` checkpoint or package is compiled by ``nequip-compile --mode aotinductor
--device cpu --target ase`` (a subprocess with the same thread count; node and edge counts
left dynamic, so one artifact serves every structure size) and loaded with
``NequIPCalculator.from_compiled_model``; the same ``call_model`` is timed on the same
input. The artifact is cached next to the model as ``<model>_compiled_ase_cpu.nequip.pt2``
and reused while it is newer than the model (``compile_s`` is then 0). The example input
for tracing and for nequip-compile's own eager-vs-compiled check is ``--structure``, written
as a ``--data-path`` file; a non-periodic structure gets a finite dummy cell there, because
its zero-volume cell makes the stress NaN and that check fail. If AOTInductor fails, the
runner falls back to ``--mode torchscript`` (``.nequip.pth``), keeps nequip-compile's log as
``<model>_compiled_ase_cpu.aotinductor.log`` (no retry while it is newer than the model)
and reports the reason in ``aotinductor_error`` (nequip 0.19.1 refuses TorchScript with
torch >= 2.10, so with a recent torch the fallback ends in an error naming both causes).
The JSON adds ``compiled``,
``compile_mode``, ``compile_s``, ``compiled_model`` and the largest energy and force
differences from the eager model on the same input. ``--compile`` needs ``--model``: with
``--untrained`` it stops with an error (nequip-compile only reads checkpoints and packages)::

    benchmarks/.venv-nequip/bin/python benchmarks/peers/nequip_runner.py infer \\
        --model benchmarks/results/accuracy/cu/nequip/best.ckpt --compile \\
        --structure benchmarks/results/data/cu_108.xyz@0 \\
        --repeats 10 --warmup 3 --threads 1 --json /tmp/nequip_infer_compiled.json

``train-step``: median time of one training step (forward with ``create_graph``, MSE loss
on per-atom energy, forces and optionally stress through NequIP's loss object, backward,
Adam step) on batches made by NequIP's own data utilities::

    benchmarks/.venv-nequip/bin/python benchmarks/peers/nequip_runner.py train-step \\
        --model /tmp/nequip_ethanol/best.ckpt \\
        --structures benchmarks/results/data/ethanol_train.xyz --batch-size 5 \\
        --repeats 10 --warmup 2 --threads 1 --json /tmp/nequip_step.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
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
    from nequip.integrations.ase import NequIPCalculator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # for the shared metrics.py
TRAIN_TEMPLATE = HERE / "nequip" / "train.yaml"
MODEL_PRESETS = HERE / "nequip" / "models.yaml"
PRESETS = ("matched", "default", "recommended")
DEFAULT_BATCH_SIZE = {"molecules": 5, "periodic": 4}  # ethanol, Cu


class BenchmarkFailure(RuntimeError):
    """A measurement that cannot be made (out of memory, over the time limit, no model)."""


# --- shared helpers -----------------------------------------------------------------------


def _set_threads(threads: int) -> None:
    """Fix the thread count: environment first (read when torch loads), then torch itself."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _nequip_version() -> str:
    import nequip

    return nequip.__version__


def _rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _read(path: str) -> list[Atoms]:
    """Frames of a file; ``FILE@INDEX`` picks one frame (ASE index syntax, e.g. ``@0``)."""
    from ase.io import read

    file, _, index = path.rpartition("@") if "@" in path else (path, "", ":")
    frames = read(file, index=index)
    return frames if isinstance(frames, list) else [frames]


def _species(frames: list[Atoms]) -> list[str]:
    """Chemical symbols present, ordered by atomic number (the model's type order)."""
    from ase.data import atomic_numbers

    return sorted({s for atoms in frames for s in atoms.get_chemical_symbols()}, key=atomic_numbers.get)


def _model_preset(preset: str) -> dict[str, Any]:
    """The model section of a preset from models.yaml, as plain Python values."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(MODEL_PRESETS)[preset], resolve=True)


def _count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _calculator_from_model(model: torch.nn.Module) -> NequIPCalculator:
    """``NequIPCalculator`` around an in-memory model, with the transforms NequIP's loaders add."""
    from nequip.integrations.ase import NequIPCalculator
    from nequip.integrations.utils import basic_transforms

    type_names = list(model.type_names)
    transforms = basic_transforms(
        model.metadata, float(model.metadata["r_max"]), type_names, {t: t for t in type_names}
    )
    return NequIPCalculator(model=model.eval(), device="cpu", transforms=transforms)


def _calculator_from_file(path: str) -> NequIPCalculator:
    """``NequIPCalculator`` from a checkpoint (.ckpt) or package (.nequip.zip), float32 as trained."""
    from nequip.integrations.ase import NequIPCalculator

    if not Path(path).exists():
        raise BenchmarkFailure(f"model file {path} does not exist")
    return NequIPCalculator._from_saved_model(path, device="cpu", chemical_species_to_atom_type_map=True)


def _mean_neighbours(frames: list[Atoms], cutoff: float) -> float:
    """Average number of neighbours within the cutoff, from NequIP's own neighbour list."""
    from nequip.data import AtomicDataDict, from_ase
    from nequip.data.transforms import NeighborListTransform

    neighbour_list = NeighborListTransform(r_max=cutoff)
    edges = sum(AtomicDataDict.num_edges(neighbour_list(from_ase(atoms))) for atoms in frames)
    return edges / sum(len(atoms) for atoms in frames)


def _untrained_model(preset: str, species: list[str], cutoff: float, frames: list[Atoms], seed: int) -> torch.nn.Module:
    """A randomly initialised float32 model of the preset, built as nequip-train builds it.

    Same builder call as ``NequIPLightningModule._build_model``; the data-dependent
    arguments (average neighbour count from ``frames``, unit energy scale, zero shift) do not
    change the cost of a call.
    """
    from hydra.utils import get_method
    from nequip.utils.global_state import set_global_state

    set_global_state()
    section = _model_preset(preset)
    builder = get_method(section.pop("_target_"))
    return builder(
        seed=seed,
        model_dtype="float32",
        type_names=species,
        r_max=cutoff,
        avg_num_neighbors=_mean_neighbours(frames, cutoff),
        per_type_energy_scales=1.0,
        per_type_energy_shifts=0.0,
        **section,
    )


def _load_model(args: argparse.Namespace, frames: list[Atoms]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model named by ``--model`` or an ``--untrained`` one, with a description for the JSON."""
    if args.model:
        model = _calculator_from_file(args.model).model
        return model, {"model": str(Path(args.model).resolve()), "preset": None}
    species = args.species or _species(frames)
    model = _untrained_model(args.preset, species, args.cutoff, frames, args.seed)
    return model, {"model": "untrained", "preset": args.preset, "species": species, "cutoff": args.cutoff}


def _timed_calls(
    call: Callable[[int], None], warmup: int, repeats: int, time_limit: float
) -> list[float]:
    """Seconds per call for ``repeats`` calls after ``warmup`` untimed ones.

    The first call is timed on its own: if warmup plus repeats would take more than
    ``time_limit`` seconds at that pace, stop with a clear message instead.
    """
    import torch

    times = []
    for index in range(warmup + repeats):
        start = time.perf_counter()
        try:
            call(index)
        except (MemoryError, torch.OutOfMemoryError) as error:
            raise BenchmarkFailure(f"out of memory in call {index + 1}: {error}") from error
        except RuntimeError as error:
            if "can't allocate memory" in str(error) or "not enough memory" in str(error):
                raise BenchmarkFailure(f"out of memory in call {index + 1}: {error}") from error
            raise
        elapsed = time.perf_counter() - start
        if index == 0 and elapsed * (warmup + repeats) > time_limit:
            raise BenchmarkFailure(
                f"one call took {elapsed:.1f} s: {warmup + repeats} calls would exceed "
                f"--time-limit {time_limit:.0f} s"
            )
        if index >= warmup:
            times.append(elapsed)
    return times


def _write_json(path: str, result: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    Path(path).write_text(text + "\n")
    print(text)


# --- train --------------------------------------------------------------------------------


def _lightning_duration(seconds: float) -> str:
    """Seconds as Lightning's ``DD:HH:MM:SS`` (a dict would reach the Trainer as a DictConfig)."""
    minutes, secs = divmod(max(1, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days:02d}:{hours:02d}:{minutes:02d}:{secs:02d}"


def _training_config(args: argparse.Namespace, species: list[str]) -> str:
    """nequip-train config: the template, the preset's model section and this run's values."""
    from omegaconf import OmegaConf

    config = OmegaConf.load(TRAIN_TEMPLATE)
    config.cutoff_radius = args.cutoff
    config.model_type_names = species
    config.seed = args.seed
    config.train_file = str(Path(args.train).resolve())
    config.val_file = str(Path(args.valid).resolve())
    config.batch_size = args.batch_size
    config.max_time = _lightning_duration(args.minutes * 60)
    config.training_module.model = OmegaConf.merge(
        OmegaConf.load(MODEL_PRESETS)[args.preset], config.training_module.model
    )
    if args.stress:
        config.training_module.loss._target_ = "nequip.train.EnergyForceStressLoss"
        config.training_module.loss.coeffs.stress = 1.0
        config.training_module.val_metrics._target_ = "nequip.train.EnergyForceStressMetrics"
        config.training_module.val_metrics.coeffs.stress_mae = 1.0
    return OmegaConf.to_yaml(config)


def _run_nequip_train(out: Path, threads: int) -> tuple[int, float, list[dict[str, float]]]:
    """``nequip-train`` on ``out/config.yaml`` with its outputs in ``out``: (return code,
    wall s, learning curve of `curves.CurveRecorder`)."""
    env = dict(os.environ)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[variable] = str(threads)
    command = [
        str(Path(sys.executable).parent / "nequip-train"),
        "-cp", str(out), "-cn", "config", f"hydra.run.dir={out}",
    ]
    from curves import ChildrenCpu, CurveRecorder, lightning_csv_records

    start = time.perf_counter()
    children = ChildrenCpu()
    with open(out / "train.log", "w") as log, CurveRecorder(lambda: lightning_csv_records(out / "csv"), children) as curve:
        process = subprocess.Popen(command, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
        children.pid = process.pid
        process.wait()
    return process.returncode, time.perf_counter() - start, curve.rows


def _checkpoint_step(path: Path) -> int:
    """Optimizer steps taken when a Lightning checkpoint was written."""
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


def _test_errors(calculator: NequIPCalculator, path: str) -> dict[str, Any]:
    """Errors of the calculator on every frame of a file (metrics.errors units)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from metrics import errors

    reference = _read(path)
    predicted = []
    for atoms in reference:
        copy = atoms.copy()
        periodic = bool(atoms.pbc.all())
        calculator.calculate(copy, properties=["energy", "forces"] + (["stress"] if periodic else []))
        results = {"energy": float(calculator.results["energy"]), "forces": calculator.results["forces"].copy()}
        if periodic:
            results["stress"] = calculator.results["stress"].copy()
        copy.calc = SinglePointCalculator(copy, **results)
        predicted.append(copy)
    return errors(reference, predicted)


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.ckpt")):
        raise BenchmarkFailure(f"{out} already holds checkpoints: give a fresh --out")
    train_frames = _read(args.train)
    species = _species(train_frames)
    if args.batch_size is None and args.preset == "recommended":
        args.batch_size = 5  # the tutorial config's
    if args.batch_size is None:
        args.batch_size = DEFAULT_BATCH_SIZE["periodic" if train_frames[0].pbc.all() else "molecules"]
    config_path = out / "config.yaml"
    config_text = _training_config(args, species)
    config_path.write_text(config_text)

    returncode, wall, curve = _run_nequip_train(out, args.threads)
    result: dict[str, Any] = {
        "library": "nequip",
        "version": _nequip_version(),
        "preset": args.preset,
        "species": species,
        "cutoff": args.cutoff,
        "stress": args.stress,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "threads": args.threads,
        "config_path": str(config_path),
        "config": config_text,
        "train_log": str(out / "train.log"),
        "nequip_train_returncode": returncode,
        "budget_s": args.minutes * 60,
        "train_wall_s": wall,
        "curve": curve,
    }
    last, best = out / "last.ckpt", out / "best.ckpt"
    if not last.exists():
        tail = (out / "train.log").read_text().splitlines()[-20:]
        result.update(model_path=None, error="nequip-train wrote no checkpoint", log_tail=tail)
        return result
    # When max_time runs out mid-epoch, Lightning still validates and checkpoints, so
    # the last epoch counts as a fraction.
    steps_per_epoch = math.ceil(len(train_frames) / args.batch_size)
    global_step = _checkpoint_step(last)
    checkpoint = best if best.exists() else last
    calculator = _calculator_from_file(str(checkpoint))
    start = time.perf_counter()
    result.update(
        steps_per_epoch=steps_per_epoch,
        global_step=global_step,
        epochs_completed=global_step // steps_per_epoch,
        epochs=global_step / steps_per_epoch,
        model_path=str(checkpoint),
        checkpoint=checkpoint.stem,
        checkpoint_step=_checkpoint_step(checkpoint),
        n_params=_count_parameters(calculator.model),
        test=_test_errors(calculator, args.test),
        extra_test={name: _test_errors(calculator, path) for name, path in args.extra_test},
    )
    result["eval_wall_s"] = time.perf_counter() - start
    return result


# --- infer --------------------------------------------------------------------------------

COMPILE_SUFFIX = {"aotinductor": ".nequip.pt2", "torchscript": ".nequip.pth"}


def _fresh(path: Path, model: Path) -> bool:
    """Whether ``path`` exists and was written after ``model``."""
    return path.exists() and path.stat().st_mtime > model.stat().st_mtime


def _compile_data(model_path: Path, atoms: Atoms, out: Path) -> None:
    """Write ``atoms`` as nequip-compile's ``--data-path`` input: a TorchScript module whose
    buffers are the ASE target's input fields, built as ``NequIPCalculator`` builds them.

    A non-periodic structure is put in a periodic box with at least ``2 r_max`` of vacuum, so
    the neighbour list (no images within the cutoff), energy and forces are unchanged but the
    stress is finite: with the zero cell it is NaN and nequip-compile's check fails on it.
    """
    import torch
    from nequip.scripts._compile_utils import AOTI_ASE_TARGET, COMPILE_TARGET_DICT

    calculator = _calculator_from_file(str(model_path))
    atoms = atoms.copy()
    if atoms.cell.volume < 1e-6:
        r_max = float(calculator.model.metadata["r_max"])
        positions = atoms.get_positions()
        atoms.set_cell(positions.max(axis=0) - positions.min(axis=0) + 2 * r_max + 1.0)
        atoms.center()
        atoms.pbc = True
    data = calculator.atoms_to_data(atoms)

    class Data(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for key in COMPILE_TARGET_DICT[AOTI_ASE_TARGET]["input"]:
                self.register_buffer(key, data[key].contiguous())

    torch.jit.save(torch.jit.script(Data()), str(out))


def _nequip_compile(model_path: Path, data_path: Path, out: Path, mode: str, threads: int) -> tuple[int, str]:
    """Run nequip-compile for the ASE target on CPU: (return code, combined output)."""
    env = dict(os.environ)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCHINDUCTOR_COMPILE_THREADS"):
        env[variable] = str(threads)
    command = [
        str(Path(sys.executable).parent / "nequip-compile"),
        str(model_path), str(out), "--mode", mode, "--device", "cpu",
    ]
    if mode == "aotinductor":
        command += ["--target", "ase", "--data-path", str(data_path)]
    process = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process.returncode, process.stdout


def _failure_reason(log: str) -> str:
    """The last error line of a nequip-compile log (the exception message), shortened."""
    lines = [line for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":")[0] or line.startswith("AssertionError")]
    reason = (errors or lines or ["no output"])[-1]
    return reason if len(reason) <= 600 else reason[:600] + " ..."


def _compiled_model(model: str, atoms: Atoms, threads: int) -> tuple[Path, dict[str, Any]]:
    """Path of the compiled artifact of ``model`` (compiled now or reused) and JSON fields.

    AOTInductor first; if it fails, TorchScript, with the AOTInductor log kept beside the
    model so that the (slow, failing) AOTInductor compilation is not retried every run.
    """
    import tempfile

    model_path = Path(model).resolve()
    if not model_path.exists():
        raise BenchmarkFailure(f"model file {model} does not exist")
    base = model_path.parent / f"{model_path.name.split('.')[0]}_compiled_ase_cpu"
    failure_log = base.with_name(base.name + ".aotinductor.log")
    fields: dict[str, Any] = {"compiled": True, "compile_s": 0.0, "compile_threads": threads}
    for mode in ("aotinductor", "torchscript"):
        artifact = base.with_name(base.name + COMPILE_SUFFIX[mode])
        fields["compile_mode"] = mode
        if mode == "aotinductor" and _fresh(failure_log, model_path) and not _fresh(artifact, model_path):
            fields["aotinductor_error"] = (
                f"failed before (delete {failure_log} to retry): " + _failure_reason(failure_log.read_text())
            )
            continue
        if _fresh(artifact, model_path):
            fields["compile_cached"] = True
            return artifact, fields
        with tempfile.TemporaryDirectory(dir=model_path.parent, prefix=".nequip_compile_") as tmp:
            data_path = Path(tmp) / "data.pt"
            if mode == "aotinductor":
                _compile_data(model_path, atoms, data_path)
            partial = Path(tmp) / artifact.name  # nequip-compile writes it even when its check fails
            start = time.perf_counter()
            returncode, log = _nequip_compile(model_path, data_path, partial, mode, threads)
            fields["compile_s"] += time.perf_counter() - start
            if returncode == 0 and partial.exists():
                partial.replace(artifact)
                fields["compile_cached"] = False
                if mode == "aotinductor" and failure_log.exists():
                    failure_log.unlink()
                return artifact, fields
        if mode == "aotinductor":
            failure_log.write_text(log)
            fields["aotinductor_error"] = _failure_reason(log) + f" (full log: {failure_log})"
            print(f"nequip-compile --mode aotinductor failed, trying torchscript: {fields['aotinductor_error']}",
                  file=sys.stderr)
        else:
            raise BenchmarkFailure(
                f"nequip-compile failed. aotinductor: {fields['aotinductor_error']}. "
                f"torchscript (fallback): {_failure_reason(log)}"
            )
    raise AssertionError("unreachable")


def _differences(eager: NequIPCalculator, compiled_out: dict[str, Any], data: dict[str, Any]) -> dict[str, float]:
    """Largest absolute energy and force differences, compiled minus eager, on the same input."""
    from nequip.data import AtomicDataDict

    reference = eager.call_model(dict(data))
    return {
        f"max_{name}_diff_vs_eager": float(
            (compiled_out[key].detach().double() - reference[key].detach().double()).abs().max()
        )
        for name, key in (("energy", AtomicDataDict.TOTAL_ENERGY_KEY), ("force", AtomicDataDict.FORCE_KEY))
    }


def cmd_infer(args: argparse.Namespace) -> dict[str, Any]:
    from nequip.data import AtomicDataDict

    atoms = _read(args.structure)[0]
    if args.supercell > 1:
        if not atoms.pbc.all():
            raise BenchmarkFailure("--supercell needs a periodic structure")
        atoms = atoms.repeat((args.supercell,) * 3)
    compiled: dict[str, Any] = {"compiled": False}
    if args.compile:
        from nequip.integrations.ase import NequIPCalculator

        if args.untrained:
            raise BenchmarkFailure(
                "--compile needs --model (a checkpoint or package): nequip-compile cannot read an "
                "--untrained in-memory model"
            )
        artifact, compiled = _compiled_model(args.model, atoms, args.threads)
        calculator = NequIPCalculator.from_compiled_model(
            str(artifact), device="cpu", chemical_species_to_atom_type_map=True
        )
        compiled["compiled_model"] = str(artifact)
        model, description = None, {"model": str(Path(args.model).resolve()), "preset": None}
    else:
        model, description = _load_model(args, [atoms])
        calculator = _calculator_from_model(model)
    data = calculator.atoms_to_data(atoms)
    n_atoms, n_edges = len(atoms), AtomicDataDict.num_edges(data)

    def call(_: int) -> None:
        calculator.call_model(data)

    baseline = _rss_mb()
    times = _timed_calls(call, args.warmup, args.repeats, args.time_limit)
    median = statistics.median(times)
    peak = _rss_mb()
    if args.compile:  # the eager model only after the timing, so that it does not count in peak_rss_mb
        eager = _calculator_from_file(args.model)
        model = eager.model
        compiled.update(_differences(eager, calculator.call_model(data), data))
    return {
        "library": "nequip",
        "version": _nequip_version(),
        **description,
        **compiled,
        "n_params": _count_parameters(model),
        "structure": args.structure,
        "supercell": args.supercell,
        "threads": args.threads,
        "n_atoms": n_atoms,
        "n_edges": n_edges,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "median_ms": median * 1000,
        "min_ms": min(times) * 1000,
        "atom_steps_per_s": n_atoms / median,
        "us_per_atom": median * 1e6 / n_atoms,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
    }


# --- train-step ---------------------------------------------------------------------------


def cmd_train_step(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from nequip.data import AtomicDataDict
    from nequip.train import EnergyForceLoss, EnergyForceStressLoss

    frames = _read(args.structures)
    steps = args.warmup + args.repeats
    frames = frames[: min(len(frames), args.batch_size * steps)]
    if len(frames) < args.batch_size:
        raise BenchmarkFailure(f"{args.structures} has {len(frames)} frames, fewer than --batch-size")
    model, description = _load_model(args, frames)
    calculator = _calculator_from_model(model)
    samples = [calculator.atoms_to_data(atoms) for atoms in frames]
    batches = [
        AtomicDataDict.batched_from_list(samples[i : i + args.batch_size])
        for i in range(0, len(samples) - args.batch_size + 1, args.batch_size)
    ]
    coeffs = {AtomicDataDict.TOTAL_ENERGY_KEY: 1.0, AtomicDataDict.FORCE_KEY: 1.0}
    if args.stress:
        loss_fn = EnergyForceStressLoss(coeffs={**coeffs, AtomicDataDict.STRESS_KEY: 1.0}, per_atom_energy=True)
    else:
        loss_fn = EnergyForceLoss(coeffs=coeffs, per_atom_energy=True)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def step(index: int) -> None:
        batch = batches[index % len(batches)]
        target = batch.copy()
        optimizer.zero_grad(set_to_none=True)
        output = model(batch.copy())
        loss = loss_fn(output, target)["weighted_sum"]
        loss.backward()
        optimizer.step()

    baseline = _rss_mb()
    times = _timed_calls(step, args.warmup, args.repeats, args.time_limit)
    median = statistics.median(times)
    n_atoms = [AtomicDataDict.num_nodes(batch) for batch in batches]
    return {
        "library": "nequip",
        "version": _nequip_version(),
        **description,
        "n_params": _count_parameters(model),
        "structures": args.structures,
        "batch_size": args.batch_size,
        "n_batches": len(batches),
        "atoms_per_batch": statistics.mean(n_atoms),
        "stress": args.stress,
        "threads": args.threads,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "median_s": median,
        "min_s": min(times),
        "structures_per_s": args.batch_size / median,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _rss_mb(),
    }


# --- command line -------------------------------------------------------------------------


def _name_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads")
    parser.add_argument("--json", required=True, help="where to write the result")
    parser.add_argument("--seed", type=int, default=0)


def _add_model(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="checkpoint (.ckpt) or package (.nequip.zip)")
    source.add_argument("--untrained", action="store_true", help="random weights of --preset")
    parser.add_argument("--preset", choices=PRESETS, default="matched")
    parser.add_argument("--species", nargs="+", help="untrained model's elements (default: those in the data)")
    parser.add_argument("--cutoff", type=float, default=5.0, help="untrained model's r_max in Å")
    parser.add_argument("--time-limit", type=float, default=900.0,
                        help="fail if warm-up plus timed calls would take longer (s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train with nequip-train, evaluate on test files")
    train.add_argument("--train", required=True)
    train.add_argument("--valid", required=True)
    train.add_argument("--test", required=True)
    train.add_argument("--extra-test", type=_name_path, action="append", default=[], metavar="NAME=PATH")
    train.add_argument("--minutes", type=float, required=True, help="wall-clock budget (Lightning max_time)")
    train.add_argument("--out", required=True, help="run folder: config, log, checkpoints")
    train.add_argument("--cutoff", type=float, default=5.0)
    train.add_argument("--stress", action="store_true", help="add stress to the loss")
    train.add_argument("--preset", choices=PRESETS, default="matched")
    train.add_argument("--batch-size", type=int, help="default: 5 (the tutorial's) with --preset recommended, else 5 for molecules (ethanol), 4 for periodic cells (Cu)")
    _add_common(train)

    infer = commands.add_parser("infer", help="time energy + forces on one structure")
    infer.add_argument("--structure", required=True, help="FILE.xyz or FILE.xyz@INDEX")
    infer.add_argument("--supercell", type=int, default=1, help="repeat the cell K x K x K")
    infer.add_argument("--repeats", type=int, default=20)
    infer.add_argument("--warmup", type=int, default=3)
    infer.add_argument("--compile", action="store_true",
                       help="time the nequip-compile'd model (AOTInductor, else TorchScript), cached next to --model")
    _add_model(infer)
    _add_common(infer)

    step = commands.add_parser("train-step", help="time one training step on batches")
    step.add_argument("--structures", required=True)
    step.add_argument("--batch-size", type=int, required=True)
    step.add_argument("--stress", action="store_true", help="add stress to the loss")
    step.add_argument("--repeats", type=int, default=10)
    step.add_argument("--warmup", type=int, default=2)
    _add_model(step)
    _add_common(step)
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "train": cmd_train,
    "infer": cmd_infer,
    "train-step": cmd_train_step,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _set_threads(args.threads)
    try:
        result = COMMANDS[args.command](args)
    except BenchmarkFailure as failure:
        _write_json(args.json, {"library": "nequip", "command": args.command, "error": str(failure)})
        return 1
    _write_json(args.json, result)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
