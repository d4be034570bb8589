"""Multi-task training on ethanol (GFN2-xTB): energy + forces + dipole (+ polarizability).

Trains one equivariant encoder with an energy readout and a dipole head (learned atomic
charges x positions + atomic dipoles) on the shipped ethanol set, then reports the test
errors: energy per atom, forces, and the dipole MAE in e·Å and relative to the mean
|dipole| of the test set. With ``--polarizability FILE`` (made by
``scripts/generate_ethanol_polarizability.py``: GFN2-xTB finite-field polarizabilities)
a polarizability head (symmetric 3x3, irreps 0e+2e, Å³) is trained too.

The numbers in docs/tensors.md come from::

    OMP_NUM_THREADS=1 python scripts/train_ethanol_dipole.py --minutes 5 --output runs/ethanol_dipole
    OMP_NUM_THREADS=1 python scripts/train_ethanol_dipole.py --minutes 5 \
        --polarizability shipped:ethanol_polarizability --output runs/ethanol_alpha

Frames: the first ``--frames`` (default 1250) of the file; ``--n-test`` (200) and
``--n-valid`` (50) are held out at random, the rest (1000) is the training set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from equipot.config import TrainConfig
from equipot.train import fit
from equipot.train.evaluation import evaluate_model
from equipot.train.data import load_training_data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training time limit")
    parser.add_argument("--frames", type=int, default=1250)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--n-valid", type=int, default=50)
    parser.add_argument("--dipole-weight", type=float, default=100.0)
    parser.add_argument(
        "--polarizability", default=None,
        help="extxyz with 'polarizability' labels (Å³), or shipped:ethanol_polarizability",
    )
    parser.add_argument("--polarizability-weight", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("runs/ethanol_dipole"))
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> TrainConfig:
    heads = [{"name": "dipole", "kind": "dipole"}]
    targets = {"dipole": {"weight": args.dipole_weight}}
    if args.polarizability is not None:
        heads.append({"name": "polarizability", "kind": "polarizability"})
        targets["polarizability"] = {"weight": args.polarizability_weight}
    return TrainConfig.model_validate(
        {
            "data": {
                "train_file": str(args.polarizability or "shipped:ethanol"),
                "index": f":{args.frames}",
                "n_test": args.n_test,
                "n_valid": args.n_valid,
            },
            "model": {
                "cutoff": 4.0,
                "num_channels": 16,
                "lmax": 2,
                "hidden_lmax": 2,
                "num_layers": 2,
                "correlation": 2,
                "radial_hidden": 32,
                "readout_hidden": 16,
                "heads": heads,
            },
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "targets": targets},
            "optimizer": {"lr": 0.01},
            "scheduler": {"name": "plateau", "patience": 5, "factor": 0.7},
            "batch_size": 10,
            "max_epochs": 1000,
            "max_time_minutes": args.minutes,
            "output_dir": str(args.output),
            "accelerator": "cpu",
            "seed": 0,
        }
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = build_config(args)
    started = time.time()
    result = fit(config)
    from equipot import load_model

    model = load_model(result.best_model_path)
    test = load_training_data(config, model.cutoff).test  # the same seeded split as in fit
    assert test is not None
    evaluation = evaluate_model(model, test, batch_size=50)
    metrics = evaluation.metrics
    dipoles = evaluation.targets["dipole"].reference
    summary = {
        "command": "python scripts/train_ethanol_dipole.py " + " ".join(argv or __import__("sys").argv[1:]),
        "epochs": result.epochs_trained,
        "best_epoch": result.best_epoch,
        "wall_time_s": round(time.time() - started, 1),
        "frames": args.frames,
        "n_train": args.frames - args.n_test - args.n_valid,
        "n_test": args.n_test,
        "energy_per_atom_mae_meV": metrics["energy_per_atom_mae"],
        "forces_mae_meV_per_A": metrics["forces_mae"],
        "dipole_mae_eA": metrics["dipole_mae"],
        "dipole_rmse_eA": metrics["dipole_rmse"],
        "mean_abs_dipole_eA": float(np.linalg.norm(dipoles, axis=1).mean()),
        "dipole_norm_mae_eA": float(
            np.abs(np.linalg.norm(evaluation.targets["dipole"].predicted, axis=1) - np.linalg.norm(dipoles, axis=1)).mean()
        ),
    }
    summary["dipole_mae_relative"] = summary["dipole_mae_eA"] / summary["mean_abs_dipole_eA"]
    # context: the MAE of always predicting the test set's mean dipole
    summary["dipole_mae_of_mean_prediction_eA"] = float(np.abs(dipoles - dipoles.mean(axis=0)).mean())
    if "polarizability" in evaluation.targets:
        values = evaluation.targets["polarizability"]
        summary["polarizability_mae_A3"] = metrics["polarizability_mae"]
        summary["polarizability_rmse_A3"] = metrics["polarizability_rmse"]
        summary["mean_isotropic_polarizability_A3"] = float(np.trace(values.reference, axis1=1, axis2=2).mean() / 3)
        anisotropic = values.reference - np.trace(values.reference, axis1=1, axis2=2)[:, None, None] / 3 * np.eye(3)
        summary["polarizability_mae_of_mean_prediction_A3"] = float(np.abs(values.reference - values.reference.mean(axis=0)).mean())
        summary["mean_abs_anisotropic_component_A3"] = float(np.abs(anisotropic).mean())
    (args.output / "test_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
