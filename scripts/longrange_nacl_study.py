"""Local-only model vs hybrid (local + learned-charge Ewald) on NaCl, same data and budget.

Both are trained with `equipot.train.fit` on the rocksalt frames of
`generate_nacl_bmh.py` (energies, forces, stress; no charge labels), with the same
architecture, seed, split and number of epochs; the hybrid adds ``model.long_range``
(neutral charges, bare Coulomb, Ewald). Then both are evaluated on the held-out rocksalt
test frames and on the CsCl-structure frames, which neither model saw:

- energy MAE (meV/atom) and force MAE (meV/Å) on each set;
- the CsCl − rocksalt energy difference: mean energy per atom of the CsCl frames minus
  that of the rocksalt test frames (meV/atom), predicted and reference.

Prints a Markdown table (pasted into docs/longrange.md) and writes it with the numbers to
``<output-dir>/nacl_study.json``::

    python scripts/longrange_nacl_study.py --data-dir runs/nacl_bmh --output-dir runs/nacl_study --epochs 8
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import ase.io
import numpy as np
import torch
import yaml

from equipot.data import graph_from_atoms
from equipot.models.io import load_model
from equipot.config import TrainConfig
from equipot.train import fit


def train_config(args: argparse.Namespace, name: str, long_range: bool) -> TrainConfig:
    model = {
        "num_channels": args.channels,
        "num_layers": 2,
        "lmax": 1,
        "hidden_lmax": 1,
        "correlation": 2,
        "cutoff": args.cutoff,
    }
    if long_range:
        model["long_range"] = {"charges": "neutral", "screening": "none", "accuracy": 1e-4, "real_space_cutoff": 8.0}
    return TrainConfig.model_validate({
        "data": {"train_file": str(args.data_dir / "nacl_rocksalt.xyz.gz"), "valid_fraction": 0.1, "test_fraction": 0.1},
        "model": model,
        "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 1.0},
        "atomic_energies": {"Na": 0.0, "Cl": 0.0},  # NaCl alone cannot separate the E0 of Na and Cl
        "optimizer": {"lr": 0.005},
        "scheduler": {"name": "cosine"},
        "max_epochs": args.epochs,
        "max_time_minutes": args.max_minutes,  # a cap; both runs normally finish their epochs first
        "batch_size": 4,
        "dtype": "float32",
        "seed": args.seed,
        "threads": 1,
        "output_dir": str(args.output_dir / name),
        "accelerator": "cpu",
    })


def predictions(model_path: Path, frames: list) -> tuple[np.ndarray, np.ndarray]:
    """Energies per atom (eV) [n_frames] and all forces (eV/Å) [n_atoms, 3] of the model."""
    model = load_model(model_path, dtype=torch.float64)
    energies, forces = [], []
    for atoms in frames:
        output = model(graph_from_atoms(atoms, model.cutoff), outputs={"energy", "forces"}, create_graph=False)
        energies.append(float(output.energy.detach()[0]) / len(atoms))
        forces.append(output.forces.detach().numpy())
    return np.array(energies), np.concatenate(forces)


def reference(frames: list) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([a.get_potential_energy() / len(a) for a in frames]), np.concatenate([a.get_forces() for a in frames]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("runs/nacl_bmh"))
    parser.add_argument("--output-dir", type=Path, default=Path("runs/nacl_study"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=8.0, help="cap on each training (minutes)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["local", "hybrid"], default=None, help="train one model only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, dict] = {}
    cscl = ase.io.read(args.data_dir / "nacl_cscl.xyz.gz", index=":")
    for name, long_range in (("local", False), ("hybrid", True)):
        if args.only not in (None, name):
            continue
        run = args.output_dir / name
        model_path = run / "model.pt"
        if not model_path.is_file():
            fit(train_config(args, name, long_range))
        with open(run / "metrics.csv") as handle:
            seconds = float(list(csv.DictReader(handle))[-1]["wall_time_s"])
        results[name] = {"train_seconds": seconds, "model": str(model_path)}
    for name, record in results.items():
        frames = _test_frames(args, name)
        row = {}
        for label, subset in (("rocksalt", frames), ("cscl", cscl)):
            e_ref, f_ref = reference(subset)
            e_pred, f_pred = predictions(Path(record["model"]), subset)
            row[f"{label}_energy_mae_meV_per_atom"] = 1000 * float(np.abs(e_pred - e_ref).mean())
            row[f"{label}_forces_mae_meV_per_A"] = 1000 * float(np.abs(f_pred - f_ref).mean())
            row[f"{label}_mean_energy_pred"], row[f"{label}_mean_energy_ref"] = float(e_pred.mean()), float(e_ref.mean())
        row["gap_pred_meV_per_atom"] = 1000 * (row["cscl_mean_energy_pred"] - row["rocksalt_mean_energy_pred"])
        row["gap_ref_meV_per_atom"] = 1000 * (row["cscl_mean_energy_ref"] - row["rocksalt_mean_energy_ref"])
        record.update(row)
    lines = [
        "| model | rocksalt test E MAE (meV/atom) | rocksalt test F MAE (meV/Å) | CsCl E MAE (meV/atom) | CsCl F MAE (meV/Å) | CsCl − rocksalt (meV/atom), reference | predicted | training (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['rocksalt_energy_mae_meV_per_atom']:.2f} | {r['rocksalt_forces_mae_meV_per_A']:.1f} | "
            f"{r['cscl_energy_mae_meV_per_atom']:.1f} | {r['cscl_forces_mae_meV_per_A']:.1f} | "
            f"{r['gap_ref_meV_per_atom']:.1f} | {r['gap_pred_meV_per_atom']:.1f} | {r['train_seconds']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "nacl_study.json").write_text(json.dumps({"results": results, "table": table}, indent=2) + "\n")
    return 0


def _test_frames(args: argparse.Namespace, name: str) -> list:
    """The rocksalt frames of this run's test split (the split `fit` made, from its config)."""
    from equipot.train.data import load_training_data

    config = TrainConfig.model_validate(yaml.safe_load((args.output_dir / name / "config.yaml").read_text()))
    data = load_training_data(config, config.model.cutoff)
    everything = ase.io.read(args.data_dir / "nacl_rocksalt.xyz.gz", index=":")
    assert data.test is not None
    return [everything[_frame_index(n)] for n in data.test.names]


def _frame_index(name: str) -> int:
    return int(name.split()[1])  # "structure 12 of nacl_rocksalt.xyz.gz"


if __name__ == "__main__":
    raise SystemExit(main())
