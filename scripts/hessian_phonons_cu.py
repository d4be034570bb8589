"""Cu phonons from models trained with and without the Hessian term, against EMT.

Both models see the same ``--frames`` strained, rattled 32-atom fcc Cu cells labelled by
EMT (scripts/generate_hessian_labels.py: ``--label-mode full``, all 96 columns of each
cell's Hessian, the default; ``hvp`` with ``--probes`` random Hessian-vector products; or
``rows``), the same architecture, seed and epochs; one trains on energies and forces, the
other adds ``loss.hessian_weight`` (``--hessian-weight``, default 10) with
``--hessian-probes`` products per batch mixed as ``--mix`` (a Gaussian mixture of the stored
columns: one random Hessian-vector product per batch, whatever is stored), both with the
learning-rate schedule ``--scheduler`` (cosine by default). The phonons of the primitive
cell at EMT's lattice constant (a 3x3x3 supercell; EMT by finite displacements, the models
by their exact Hessian) are compared along the standard fcc path; the stable MD time step
(`equipot.properties.timestep`) is taken on the 32-atom cubic cell. Prints a table, writes
``study.json`` and ``cu_phonons.png`` (EMT and both models' bands) in ``--output-dir``::

    OMP_NUM_THREADS=1 python scripts/hessian_phonons_cu.py --output-dir cu_phonons --seed 0

``--timing-rounds N`` instead measures the epoch cost of the Hessian term: N rounds of
``--timing-epochs`` epochs of each model in turn, in one process (the ratio survives a
shared machine's load), written to ``epoch_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

import generate_hessian_labels  # scripts/generate_hessian_labels.py
import hessian_training_study  # scripts/hessian_training_study.py

THZ_TO_CM = 33.35641


def emt_lattice_constant() -> float:
    """EMT's equilibrium fcc lattice constant (Å), from an equation-of-state fit."""
    volumes, energies = [], []
    for a in np.linspace(3.54, 3.64, 11):
        atoms = bulk("Cu", "fcc", a=a)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    volume, _, _ = EquationOfState(volumes, energies).fit()
    return float((4 * volume) ** (1 / 3))


def train_config(data: Path, output: Path, hessian_weight: float, args: argparse.Namespace, epochs: int):
    from equipot.config import TrainConfig

    loss = {"energy_weight": 1.0, "forces_weight": 10.0, "hessian_weight": hessian_weight}
    if hessian_weight > 0:
        loss |= {"hessian_probes": args.hessian_probes, "hessian_probe_mix": args.mix, "hessian_every": args.hessian_every,
                 "hessian_method": args.hessian_method}
    return TrainConfig.model_validate(
        {
            "data": {"train_file": str(data), "n_valid": 4},
            "model": {"num_channels": 16, "num_layers": 2, "lmax": 1, "hidden_lmax": 1, "cutoff": args.cutoff},
            "loss": loss,
            "optimizer": {"lr": 0.01},
            "scheduler": {"name": args.scheduler},
            "max_epochs": epochs,
            "batch_size": 4,
            "seed": args.seed,
            "dtype": "float64",
            "output_dir": str(output),
            "accelerator": "cpu",
        }
    )


def train(data: Path, output: Path, hessian_weight: float, args: argparse.Namespace) -> Path:
    from equipot.train import fit

    if args.reuse and (output / "model.pt").exists():
        return output / "model.pt"
    return fit(train_config(data, output, hessian_weight, args, args.epochs)).best_model_path


def epoch_cost(data: Path, output: Path, args: argparse.Namespace) -> list[float]:
    """Per round, (seconds per epoch with the Hessian term) / (without), the two trained for
    ``--timing-epochs`` epochs in turn inside each round, in this one process."""
    from equipot.train import fit

    ratios = []
    for number in range(args.timing_rounds):
        seconds = []
        for weight in (0.0, args.hessian_weight):
            folder = output / "timing" / f"w{weight:g}_{number}"
            shutil.rmtree(folder, ignore_errors=True)
            metrics = fit(train_config(data, folder, weight, args, args.timing_epochs)).metrics_path
            seconds.append(hessian_training_study.seconds_per_epoch(metrics))
        ratios.append(seconds[1] / seconds[0])
        print(f"timing round {number}: {seconds[0]:.2f} s/epoch without, {seconds[1]:.2f} with ({ratios[-1]:.2f}x)",
              flush=True)
    return ratios


def bands_of(source, primitive, exact: bool):
    from equipot.properties.phonons import phonons

    return phonons(source, primitive, supercell=(3, 3, 3), exact_hessian=exact).band_structure(npoints=31)


def plot(bands: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from equipot.properties.figures import pretty_label

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    styles = {"EMT": ("black", "-", 1.6)} | dict(zip(list(bands)[1:], [("C0", "--", 1.2), ("C3", "-", 1.2)]))
    for name, structure in bands.items():
        color, line, width = styles[name]
        for segment, (distance, values) in enumerate(zip(structure.distances, structure.frequencies)):
            axes.plot(distance, values, color=color, linestyle=line, linewidth=width, label=name if segment == 0 else None)
    reference = bands["EMT"]
    for tick in reference.ticks:
        axes.axvline(tick, color="0.6", linewidth=0.6)
    axes.set_xticks(list(reference.ticks), [pretty_label(label) for label in reference.labels])
    axes.set_xlim(float(reference.distances[0][0]), float(reference.distances[-1][-1]))
    axes.set_ylabel("frequency (THz)")
    axes.set_title("fcc Cu phonons at EMT's lattice constant")
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes.legend(unique.values(), unique.keys(), loc="lower right", fontsize=8)
    figure.savefig(path, dpi=150)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--label-mode", choices=("hvp", "rows", "full"), default="full",
                        help="Hessian labels per cell: --probes random products, --probes rows, or all 96 columns")
    parser.add_argument("--probes", type=int, default=4, help="Hessian-vector products (or rows) stored per cell")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hessian-weight", type=float, default=10.0)
    parser.add_argument("--hessian-probes", type=int, default=1, help="products per batch (loss.hessian_probes)")
    parser.add_argument("--mix", choices=("columns", "gaussian"), default="gaussian", help="loss.hessian_probe_mix")
    parser.add_argument("--hessian-every", type=int, default=1, help="the term on every n-th step only (loss.hessian_every)")
    parser.add_argument("--hessian-method", choices=("exact", "forces_difference"), default="exact",
                        help="loss.hessian_method: products by a second backward pass, or a difference of forces")
    parser.add_argument("--cutoff", type=float, default=4.5, help="model cutoff (Å); EMT's Cu reaches past 4.8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", choices=("plateau", "cosine"), default="cosine",
                        help="learning-rate schedule of both models (cosine: to 1e-6 at the last epoch)")
    parser.add_argument("--reuse", action="store_true", help="evaluate the model.pt of runs already in --output-dir")
    parser.add_argument("--train-only", choices=("without", "with"), help="train only this model and stop")
    parser.add_argument("--timing-rounds", type=int, default=0, help="rounds of the interleaved epoch-cost timing")
    parser.add_argument("--timing-epochs", type=int, default=4, help="epochs per model and round of the timing")
    parser.add_argument("--output-dir", type=Path, default=Path("cu_phonons"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from equipot import load_model
    from equipot.properties.timestep import stable_timestep

    output = args.output_dir
    output.mkdir(parents=True, exist_ok=True)
    data = output / "cu_hvp.xyz"
    if not data.exists():
        generate_hessian_labels.main(["--reference", "emt", "--system", "cu", "--frames", str(args.frames), "--mode", args.label_mode,
                           "--probes", str(args.probes), "--seed", str(args.seed), "--output", str(data)])
    a = emt_lattice_constant()
    primitive, cubic = bulk("Cu", "fcc", a=a), bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
    bands = {"EMT": bands_of(EMT(), primitive, exact=False)}
    steps = {"EMT": stable_timestep(EMT(), cubic)}
    seconds = {}
    names = {0.0: "energies + forces", args.hessian_weight: f"+ Hessian (w = {args.hessian_weight:g})"}
    if args.timing_rounds:
        ratios = epoch_cost(data, output, args)
        print(f"epoch cost with / without the Hessian term: median {statistics.median(ratios):.2f}x "
              f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})")
        (output / "epoch_cost.json").write_text(json.dumps({"ratios": ratios, "argv": sys.argv}, indent=2))
        return
    if args.train_only:  # one of the two models (e.g. both at once in two processes), evaluated later with --reuse
        weight = args.hessian_weight if args.train_only == "with" else 0.0
        train(data, output / f"{args.train_only}_hessian", weight, args)
        return
    for weight, name in names.items():
        start = time.perf_counter()
        model_path = train(data, output / ("with_hessian" if weight > 0 else "without_hessian"), weight, args)
        seconds[name] = time.perf_counter() - start
        model = load_model(model_path)
        bands[name] = bands_of(model, primitive, exact=True)
        steps[name] = stable_timestep(model, cubic)
    reference = np.concatenate(bands["EMT"].frequencies)
    rows = {}
    for name, structure in bands.items():
        errors = np.concatenate(structure.frequencies) - reference
        rows[name] = {
            "band_mae_thz": float(np.abs(errors).mean()),
            "band_max_error_thz": float(np.abs(errors).max()),
            "max_frequency_thz": float(np.concatenate(structure.frequencies).max()),
            "stability_limit_fs": steps[name].stability_limit_fs,
            "train_seconds": seconds.get(name),
        }
    plot(bands, output / "cu_phonons.png")
    (output / "study.json").write_text(json.dumps({"lattice_constant": a, "rows": rows, "argv": sys.argv}, indent=2))
    print(f"EMT lattice constant {a:.4f} Å")
    print("| phonons of | band MAE (THz) | max error (THz) | highest band (THz) | stable dt limit, 32-atom cell (fs) | train time (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        seconds_text = f"{row['train_seconds']:.0f}" if row["train_seconds"] else ""
        print(f"| {name} | {row['band_mae_thz']:.3f} | {row['band_max_error_thz']:.3f} | {row['max_frequency_thz']:.2f} | "
              f"{row['stability_limit_fs']:.2f} | {seconds_text} |")


if __name__ == "__main__":
    main()
