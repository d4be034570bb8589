"""With and without the Hessian term: harmonic frequencies of ethanol against GFN2-xTB.

All models see the same structures (the first ``--frames`` frames of the shipped ethanol
set, relabelled with full GFN2-xTB Hessians by scripts/generate_hessian_labels.py), the same
architecture, seed and epochs; they differ only in the loss. A variant is
``NAME:key=value,...`` with the keys ``weight`` (loss.hessian_weight; 0: energies and
forces only), ``probes`` (loss.hessian_probes), ``mix`` (loss.hessian_probe_mix: columns or
gaussian), ``every`` (loss.hessian_every), ``dtype`` (float64 or float32) and ``scheduler``
(plateau, the default, or cosine: the learning rate decays to 1e-6 at the last epoch; the
same for the model without the term). Each model's Hessian is taken at the GFN2-xTB
minimum (so the comparison is of curvature, not of the minimum's position); the 21 vibrational frequencies (translations and rotations projected
out) are compared with GFN2-xTB's (finite differences of its forces) mode by mode, each
model mode paired with the GFN2-xTB mode of largest eigenvector overlap
(`equipot.properties.match_modes`; the MAE of the pairing by rank, both lists sorted, is
kept as a second column), and the stable MD time step (`equipot.properties.timestep`, from
the largest eigenvalue) with GFN2-xTB's. Runs recorded by the version that paired by rank
are re-evaluated from their model files (no retraining).

The epoch cost of each variant relative to the first one is measured separately and
interleaved (``--timing-rounds`` rounds of ``--timing-epochs`` epochs of every variant in
turn, in this one process; the median of the per-round ratios), since the wall time of
whole runs on a shared machine carries its load. Each (variant, seed) writes
``runs/NAME_sSEED.json`` in ``--output-dir`` and is skipped when that file exists, so a
study can be extended; the table covers every variant named::

    OMP_NUM_THREADS=1 python scripts/hessian_training_study.py --output-dir hessian_study --epochs 100 \\
        --seeds 0 1 --variant forces:weight=0 --variant gauss1:weight=1,probes=1,mix=gaussian
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import molecule
from ase.optimize import BFGS

DEFAULT_VARIANTS = ("forces:weight=0", "columns4:weight=1,probes=4")
VARIANT_KEYS = {"weight": float, "probes": int, "mix": str, "every": int, "dtype": str, "scheduler": str}


def parse_variant(text: str) -> tuple[str, dict]:
    """``NAME:key=value,...`` -> (NAME, settings); see the module docstring."""
    name, _, rest = text.partition(":")
    settings: dict = {"weight": 0.0, "probes": None, "mix": "columns", "every": 1, "dtype": "float64", "scheduler": "plateau"}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in VARIANT_KEYS:
            raise SystemExit(f"variant {text!r}: unknown key {key!r}; use {sorted(VARIANT_KEYS)}")
        settings[key] = VARIANT_KEYS[key](value)
    return name, settings


def describe(settings: dict) -> str:
    extra = (f", {settings['dtype']}" if settings["dtype"] != "float64" else "") + (
        f", {settings['scheduler']} lr" if settings.get("scheduler", "plateau") != "plateau" else "")
    if settings["weight"] == 0:
        return "energies + forces" + extra
    text = f"+ Hessian, w = {settings['weight']:g}, {settings['probes'] or 'all'} {settings['mix']}/batch"
    text += f", every {settings['every']} steps" if settings["every"] > 1 else ""
    return text + extra


def reference_minimum(calculator) -> tuple[object, object, object]:
    """GFN2-xTB minimum of ethanol, its vibrations (translations and rotations projected
    out) and its time step."""
    from equipot.properties.hessian import hessian_of
    from equipot.properties.timestep import timestep_from_hessian
    from equipot.properties.vibrations import vibrations

    atoms = molecule("CH3CH2OH")
    atoms.calc = calculator
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=500)
    result = vibrations(calculator, atoms, project=True)
    step = timestep_from_hessian(hessian_of(calculator, atoms).matrix, atoms.get_masses())
    return atoms, result, step


def frequency_comparison(model, minimum, reference) -> dict:
    """The model's 21 frequencies at the GFN2-xTB minimum against GFN2-xTB's: MAE and max
    error over modes matched by eigenvector (`equipot.properties.match_modes`), and the MAE
    of the pairing by rank (both sorted) for comparison with earlier tables."""
    from equipot.properties.vibrations import match_modes, vibrations

    match = match_modes(vibrations(model, minimum.copy(), project=True), reference)
    return {
        "frequency_mae_cm": match.mae_cm,
        "frequency_max_error_cm": match.max_error_cm,
        "frequency_sorted_mae_cm": match.sorted_mae_cm,
        "frequency_sorted_max_error_cm": float(np.abs(match.sorted_errors_cm).max()),
        "smallest_overlap": float(match.overlaps.min()),
        "frequencies_cm": match.sorted_model_frequencies_cm.tolist(),
        "matched_frequencies_cm": match.model_frequencies_cm.tolist(),
    }


def train_config(data: Path, output: Path, settings: dict, epochs: int, seed: int):
    from equipot.config import TrainConfig

    loss = {"energy_weight": 1.0, "forces_weight": 10.0, "hessian_weight": settings["weight"]}
    if settings["weight"] > 0:
        loss |= {"hessian_probes": settings["probes"], "hessian_probe_mix": settings["mix"], "hessian_every": settings["every"]}
    return TrainConfig.model_validate(
        {
            "data": {"train_file": str(data), "n_valid": 4},
            "model": {"num_channels": 16, "num_layers": 2, "lmax": 1, "hidden_lmax": 1, "cutoff": 4.0},
            "loss": loss,
            "optimizer": {"lr": 0.01},
            "scheduler": {"name": settings.get("scheduler", "plateau")},
            "max_epochs": epochs,
            "batch_size": 4,
            "seed": seed,
            "dtype": settings["dtype"],
            "output_dir": str(output),
            "accelerator": "cpu",
        }
    )


def run_variant(data: Path, output: Path, name: str, settings: dict, args, minimum, reference) -> dict:
    from equipot import load_model
    from equipot.properties.timestep import stable_timestep
    from equipot.train import fit

    start = time.perf_counter()
    model_path = fit(train_config(data, output, settings, args.epochs, args.seed)).best_model_path
    seconds = time.perf_counter() - start
    model = load_model(model_path, dtype=torch.float64)
    step = stable_timestep(model, minimum.copy())
    return {
        "name": name, "settings": settings, "seed": args.seed, "epochs": args.epochs,
        **frequency_comparison(model, minimum, reference),
        "max_frequency_cm": step.max_frequency_cm,
        "stability_limit_fs": step.stability_limit_fs,
        "recommended_timestep_fs": step.recommended_fs,
        "train_seconds": seconds,
        "model": str(model_path),
    }


def seconds_per_epoch(metrics: Path) -> float:
    """Mean wall time of the epochs after the first (which carries the start-up), validation included."""
    with open(metrics) as stream:
        times = [float(row["wall_time_s"]) for row in csv.DictReader(stream)]
    return (times[-1] - times[0]) / (len(times) - 1)


def nve_energy_error(calculator, minimum, timestep_fs: float, steps: int) -> float:
    """Largest deviation (meV) of the total energy from its start in ``steps`` velocity-Verlet
    steps of ``timestep_fs`` from ``minimum`` with 300 K velocities (the same for every model)."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = minimum.copy()
    atoms.calc = calculator
    thermalize_momenta(atoms, 600, rng=np.random.default_rng(0))  # 300 K after equipartition
    Stationary(atoms)
    ZeroRotation(atoms)
    energies = []
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dynamics.run(steps)
    deviation = np.abs(np.asarray(energies) - energies[0]).max()
    return float(1000 * deviation) if np.isfinite(deviation) else float("inf")


def add_nve_errors(rows: list[dict], minimum, reference_calculator, timesteps: list[float], steps: int, output: Path) -> dict:
    """NVE energy errors (meV) per time step for every row (stored in its JSON) and GFN2-xTB's."""
    from equipot import load_model
    from equipot.calculator import EquipotCalculator

    for row in rows:
        done = row.setdefault("nve_max_energy_error_meV", {})
        missing = [dt for dt in timesteps if str(dt) not in done]
        if missing:
            calculator = EquipotCalculator(load_model(row["model"], dtype=torch.float64))
            done |= {str(dt): nve_energy_error(calculator, minimum, dt, steps) for dt in missing}
            (output / "runs" / f"{row['name']}_s{row['seed']}.json").write_text(json.dumps(row, indent=2))
    path = output / "reference_nve.json"
    reference = json.loads(path.read_text()) if path.exists() else {}
    for dt in timesteps:
        if str(dt) not in reference:
            reference[str(dt)] = nve_energy_error(reference_calculator, minimum, dt, steps)
    path.write_text(json.dumps(reference, indent=2))
    return reference


def nve_table(rows: list[dict], reference: dict, timesteps: list[float], steps: int) -> str:
    lines = [f"| training | {' | '.join(f'dt = {dt:g} fs' for dt in timesteps)} |", "| --- |" + " --- |" * len(timesteps),
             f"| GFN2-xTB | {' | '.join(f'{reference[str(dt)]:.1f}' for dt in timesteps)} |"]
    for name in dict.fromkeys(row["name"] for row in rows):
        mine = [row for row in rows if row["name"] == name]
        values = [np.mean([row["nve_max_energy_error_meV"][str(dt)] for row in mine]) for dt in timesteps]
        lines.append(f"| {describe(mine[0]['settings'])} | {' | '.join(f'{v:.1f}' for v in values)} |")
    return f"largest total-energy deviation (meV) in {steps} NVE steps from the minimum, 300 K:\n" + "\n".join(lines)


def epoch_costs(data: Path, output: Path, variants: list[tuple[str, dict]], epochs: int, rounds: int) -> dict[str, float]:
    """Median over ``rounds`` of (seconds per epoch of a variant) / (that of the first
    variant), the variants trained for ``epochs`` epochs in turn inside each round."""
    from equipot.train import fit

    ratios: dict[str, list[float]] = {name: [] for name, _ in variants}
    for number in range(rounds):
        seconds = {}
        for name, settings in variants:
            folder = output / "timing" / f"{name}_{number}"
            shutil.rmtree(folder, ignore_errors=True)
            seconds[name] = seconds_per_epoch(fit(train_config(data, folder, settings, epochs, 0)).metrics_path)
        first = seconds[variants[0][0]]
        for name in seconds:
            ratios[name].append(seconds[name] / first)
        print(f"timing round {number}: " + ", ".join(f"{n} {s:.2f} s/epoch" for n, s in seconds.items()), flush=True)
    return {name: statistics.median(values) for name, values in ratios.items()}


def _per_seed(values: list[float]) -> str:
    """``mean (seed values)``, or the one value."""
    return f"{np.mean(values):.1f}" + (f" ({', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else "")


def table(rows: list[dict], costs: dict[str, float], reference_step) -> str:
    lines = [
        "| training | seeds | frequency MAE, matched modes (cm⁻¹) | max error (cm⁻¹) | MAE, sorted pairing (cm⁻¹) "
        "| highest mode (cm⁻¹) | stable dt limit (fs) | epoch cost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| GFN2-xTB | | | | | {reference_step.max_frequency_cm:.0f} | {reference_step.stability_limit_fs:.2f} | |",
    ]
    for name in dict.fromkeys(row["name"] for row in rows):
        mine = [row for row in rows if row["name"] == name]
        cost = f"{costs[name]:.2f}x" if name in costs else "not timed"
        lines.append(
            f"| {describe(mine[0]['settings'])} | {', '.join(str(r['seed']) for r in mine)} | "
            f"{_per_seed([r['frequency_mae_cm'] for r in mine])} | "
            f"{np.mean([r['frequency_max_error_cm'] for r in mine]):.0f} | "
            f"{_per_seed([r['frequency_sorted_mae_cm'] for r in mine])} | "
            f"{np.mean([r['max_frequency_cm'] for r in mine]):.0f} | "
            f"{np.mean([r['stability_limit_fs'] for r in mine]):.2f} | {cost} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variant", action="append", help="NAME:key=value,... (repeat); see the docstring")
    parser.add_argument("--timing-epochs", type=int, default=4, help="epochs per variant and round of the cost timing")
    parser.add_argument("--timing-rounds", type=int, default=3, help="rounds of the cost timing (0: no timing)")
    parser.add_argument("--nve-timesteps", type=float, nargs="*", default=[], help="NVE energy error at these steps (fs)")
    parser.add_argument("--nve-steps", type=int, default=400)
    parser.add_argument("--output-dir", type=Path, default=Path("hessian_study"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = [parse_variant(text) for text in (args.variant or DEFAULT_VARIANTS)]

    import generate_hessian_labels as generator  # scripts/generate_hessian_labels.py

    output = args.output_dir
    (output / "runs").mkdir(parents=True, exist_ok=True)
    data = output / "ethanol_hessians.xyz"
    if not data.exists():
        generator.main(["--input", "shipped:ethanol", "--index", f":{args.frames}", "--reference", "gfn2",
                        "--mode", "full", "--output", str(data)])
    minimum, reference, reference_step = reference_minimum(generator.reference_calculator("gfn2"))
    rows = []
    for seed in args.seeds:
        args.seed = seed
        for name, settings in variants:
            path = output / "runs" / f"{name}_s{seed}.json"
            if not path.exists():
                row = run_variant(data, output / f"{name}_s{seed}", name, settings, args, minimum, reference)
                path.write_text(json.dumps(row, indent=2))
                print(f"{name} seed {seed}: frequency MAE {row['frequency_mae_cm']:.1f} cm^-1", flush=True)
            row = json.loads(path.read_text())
            if "frequency_sorted_mae_cm" not in row:  # a run of the sorted-pairing version: re-evaluate its model
                from equipot import load_model

                row |= frequency_comparison(load_model(row["model"], dtype=torch.float64), minimum, reference)
                path.write_text(json.dumps(row, indent=2))
            rows.append(row)
    nve = ""
    if args.nve_timesteps:
        calculator = generator.reference_calculator("gfn2")
        reference_nve = add_nve_errors(rows, minimum, calculator, args.nve_timesteps, args.nve_steps, output)
        nve = nve_table(rows, reference_nve, args.nve_timesteps, args.nve_steps)
    costs = epoch_costs(data, output, variants, args.timing_epochs, args.timing_rounds) if args.timing_rounds else {}
    summary = {"reference_frequencies_cm": reference.internal_frequencies_cm.tolist(), "runs": rows, "epoch_cost": costs,
               "reference_stability_limit_fs": reference_step.stability_limit_fs, "argv": sys.argv}
    (output / "study.json").write_text(json.dumps(summary, indent=2))
    print(table(rows, costs, reference_step))
    print(nve)


if __name__ == "__main__":
    main()
