"""Local-only model vs hybrid (local + learned-charge Coulomb) on the water-dimer tail.

Both are trained with `equipot.train.fit` on the frames of `generate_water_dimer_xtb.py`
(O–O distance 2.5–6 Å, distorted monomers; GFN2-xTB energies and forces) with the same
architecture, seed, split, loss weights and number of epochs; the hybrid adds
``model.long_range`` (neutral charges, bare Coulomb, direct sum) and a loss on the GFN2-xTB
dipoles of the frames (``--dipole-weight``, default 10; the dipole of point charges then
matches the molecule's, which sets the strength of the tail) and/or on the Mulliken charges
(``--charge-weight``; their point-charge dipole is about 2/3 of GFN2-xTB's, so their tail is
about half as strong). Both are
then run along the rigid scan from 2.5 to 20 Å, which neither saw; the interaction energy
is ``E(dimer) - E(donor) - E(acceptor)`` (each monomer alone), for the models and for
GFN2-xTB. Beyond its cutoff (5 Å between any two atoms) a local model's interaction is zero
by construction; the hybrid's is the Coulomb energy between the two monomers' charges.

Prints a Markdown table (pasted into docs/longrange.md), writes the numbers to
``<output-dir>/tail_study.json`` and the figure to ``--figure``::

    python scripts/longrange_tail_study.py --data-dir runs/water_dimer --output-dir runs/water_tail \\
        --epochs 30 --dipole-weight 10 --figure docs/figures/longrange_water_dimer_tail.png
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import ase.io
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equipot import load_potential
from equipot.config import TrainConfig
from equipot.data import graph_from_atoms
from equipot.data.shipped import GFN2_XTB_ISOLATED_ATOM_ENERGIES
from equipot.train import fit

TABLE_DISTANCES = (3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
TAIL = (8.0, 20.0)


def train_config(args: argparse.Namespace, name: str, long_range: bool) -> TrainConfig:
    model: dict = {"num_channels": args.channels, "num_layers": 2, "lmax": 1, "hidden_lmax": 1, "cutoff": args.cutoff}
    loss: dict = {"energy_weight": 1.0, "forces_weight": 10.0}
    if long_range:
        model["long_range"] = {"charges": "neutral", "screening": "none", "method": "direct"}
        targets = {"charges": args.charge_weight, "dipole": args.dipole_weight}  # Mulliken charges (e), dipole (e·Å)
        loss["targets"] = {name: {"weight": weight} for name, weight in targets.items() if weight > 0}
    return TrainConfig.model_validate({
        "data": {"train_file": str(args.data_dir / "water_dimer_train.xyz.gz"), "valid_fraction": 0.1},
        "model": model,
        "loss": loss,
        "atomic_energies": {s: GFN2_XTB_ISOLATED_ATOM_ENERGIES[s] for s in ("H", "O")},
        "optimizer": {"lr": 0.005},
        "scheduler": {"name": "cosine"},
        "max_epochs": args.epochs,
        "batch_size": 8,
        "dtype": "float32",
        "seed": args.seed,
        "threads": 1,
        "output_dir": str(args.output_dir / name),
        "accelerator": "cpu",
    })


def energies(model_path: Path, frames: list) -> np.ndarray:
    """The model's energies (eV) [n_frames], in float64."""
    model = load_potential(model_path, dtype=torch.float64)
    return np.array([
        float(model(graph_from_atoms(atoms, model.cutoff), outputs={"energy"}, create_graph=False).energy.detach()[0])
        for atoms in frames
    ])


def interaction(dimers: np.ndarray, monomers: np.ndarray) -> np.ndarray:
    """Interaction energies (meV) [n_distances] from dimer energies and the two monomers' (eV)."""
    return 1000 * (dimers - monomers.sum())


def plot(distances: np.ndarray, curves: dict[str, np.ndarray], train_max: float, path: Path) -> None:
    """The interaction energy of reference and models: 2.5–20 Å, and the tail 8–20 Å."""
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    styles = {"GFN2-xTB": ("k", "-", "o"), "local": ("tab:red", "--", "s"), "hybrid": ("tab:blue", "-", "^")}
    for axis, (low, high) in zip(figure.subplots(1, 2), ((distances.min(), distances.max()), TAIL), strict=True):
        shown = (distances >= low - 1e-9) & (distances <= high + 1e-9)
        for name, values in curves.items():
            color, line, marker = styles[name]
            axis.plot(distances[shown], values[shown], color=color, linestyle=line, marker=marker, markersize=3, label=name)
        if low < train_max:
            axis.axvspan(low, train_max, color="0.9", label="training distances")
        axis.axhline(0.0, color="0.6", linewidth=0.8)
        axis.set_xlabel("O–O distance (Å)")
        axis.set_ylabel("interaction energy (meV)")
        axis.set_title("water dimer, GFN2-xTB vs models" if low < TAIL[0] else "the tail, 8–20 Å")
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("runs/water_dimer"))
    parser.add_argument("--output-dir", type=Path, default=Path("runs/water_tail"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--charge-weight", type=float, default=0.0, help="weight of the hybrid's loss on the Mulliken charges")
    parser.add_argument("--dipole-weight", type=float, default=10.0, help="weight of the hybrid's loss on the dipoles")
    parser.add_argument("--only", choices=["local", "hybrid"], default=None, help="train one model only")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of the interaction energies")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scan = ase.io.read(args.data_dir / "water_dimer_scan.xyz.gz", index=":")
    monomers = ase.io.read(args.data_dir / "water_monomers.xyz.gz", index=":")
    distances = np.array([atoms.info["d_OO"] for atoms in scan])
    curves = {"GFN2-xTB": interaction(
        np.array([a.get_potential_energy() for a in scan]), np.array([a.get_potential_energy() for a in monomers])
    )}
    seconds = {}
    for name, long_range in (("local", False), ("hybrid", True)):
        if args.only not in (None, name):
            continue
        model_path = args.output_dir / name / "model.pt"
        if not model_path.is_file():
            fit(train_config(args, name, long_range))
        with open(args.output_dir / name / "metrics.csv") as handle:
            last = list(csv.DictReader(handle))[-1]
        if float(last["epoch"]) < args.epochs:  # a time cap stopped it: the budgets differ
            raise SystemExit(f"{name} trained {float(last['epoch']):.2f} of {args.epochs} epochs; train both again")
        seconds[name] = float(last["wall_time_s"])
        curves[name] = interaction(energies(model_path, scan), energies(model_path, monomers))
    tail = (distances >= TAIL[0] - 1e-9) & (distances <= TAIL[1] + 1e-9)
    columns = [float(np.flatnonzero(np.isclose(distances, d))[0]) for d in TABLE_DISTANCES]
    lines = [
        "| interaction energy (meV) | " + " | ".join(f"{d:g} Å" for d in TABLE_DISTANCES) + " | MAE 8–20 Å (meV) | training (s) |",
        "| --- " * (len(TABLE_DISTANCES) + 3) + "|",
    ]
    reference = curves["GFN2-xTB"]
    for name, values in curves.items():
        mae = float(np.abs(values[tail] - reference[tail]).mean())
        time = f"{seconds[name]:.0f}" if name in seconds else "–"
        lines.append(f"| {name} | " + " | ".join(f"{values[int(i)]:.2f}" for i in columns) + f" | {mae:.2f} | {time} |")
    table = "\n".join(lines)
    print(table)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    record = {"distances_A": distances.tolist(), "interaction_meV": {k: v.tolist() for k, v in curves.items()},
              "train_seconds": seconds, "charge_weight": args.charge_weight, "dipole_weight": args.dipole_weight,
              "epochs": args.epochs, "table": table}
    (args.output_dir / "tail_study.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.figure is not None:
        plot(distances, curves, 6.0, args.figure)
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
