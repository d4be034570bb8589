"""With and without the Hessian term: harmonic frequencies of ethanol against GFN2-xTB.

Both models see the same structures (the first ``--frames`` frames of the shipped ethanol
set, relabelled with full GFN2-xTB Hessians by scripts/generate_hessian_labels.py), the same
architecture, seed and epochs; one trains on energies and forces, the other adds
``loss.hessian_weight`` with ``--probes`` random Hessian columns per batch. Each model's
Hessian is taken at the GFN2-xTB minimum (so the comparison is of curvature, not of the
minimum's position); the 21 vibrational frequencies (translations and rotations projected
out) are compared with GFN2-xTB's (finite differences of its forces). Prints a table and
writes ``study.json`` in ``--output-dir``::

    OMP_NUM_THREADS=1 python scripts/hessian_training_study.py --output-dir hessian_study
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase.build import molecule
from ase.optimize import BFGS

SCRIPTS = Path(__file__).resolve().parent


def _generator():
    spec = importlib.util.spec_from_file_location("generate_hessian_labels", SCRIPTS / "generate_hessian_labels.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_hessian_labels"] = module
    spec.loader.exec_module(module)
    return module


def reference_frequencies(calculator) -> tuple[object, np.ndarray]:
    """GFN2-xTB minimum of ethanol and its frequencies (cm^-1, projected, the 21 non-zero)."""
    from equipot.properties.vibrations import vibrations

    atoms = molecule("CH3CH2OH")
    atoms.calc = calculator
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=500)
    result = vibrations(calculator, atoms, project=True)
    return atoms, np.sort(result.frequencies_cm)[6:]


def train(data: Path, output: Path, hessian_weight: float, probes: int, epochs: int, seed: int) -> Path:
    from equipot.config import TrainConfig
    from equipot.train import fit

    loss = {"energy_weight": 1.0, "forces_weight": 10.0, "hessian_weight": hessian_weight}
    if hessian_weight > 0:
        loss["hessian_probes"] = probes
    config = TrainConfig.model_validate(
        {
            "data": {"train_file": str(data), "n_valid": 4},
            "model": {"num_channels": 16, "num_layers": 2, "lmax": 1, "hidden_lmax": 1, "cutoff": 4.0},
            "loss": loss,
            "optimizer": {"lr": 0.01},
            "max_epochs": epochs,
            "batch_size": 4,
            "seed": seed,
            "dtype": "float64",
            "output_dir": str(output),
            "accelerator": "cpu",
        }
    )
    return fit(config).best_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--hessian-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("hessian_study"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from equipot import load_model
    from equipot.properties.vibrations import vibrations

    generator = _generator()
    output = args.output_dir
    output.mkdir(parents=True, exist_ok=True)
    data = output / "ethanol_hessians.xyz"
    if not data.exists():
        generator.main(["--input", "shipped:ethanol", "--index", f":{args.frames}", "--reference", "gfn2",
                        "--mode", "full", "--output", str(data)])
    calculator = generator.reference_calculator("gfn2")
    minimum, reference = reference_frequencies(calculator)
    rows = {}
    for name, weight in (("energies+forces", 0.0), (f"+ Hessian (w={args.hessian_weight}, {args.probes} rows/batch)", args.hessian_weight)):
        run = output / ("with_hessian" if weight > 0 else "without_hessian")
        start = time.perf_counter()
        model_path = train(data, run, weight, args.probes, args.epochs, args.seed)
        seconds = time.perf_counter() - start
        model = load_model(model_path)
        frequencies = np.sort(vibrations(model, minimum.copy(), project=True).frequencies_cm)[6:]
        errors = frequencies - reference
        rows[name] = {
            "frequency_mae_cm": float(np.abs(errors).mean()),
            "frequency_max_error_cm": float(np.abs(errors).max()),
            "train_seconds": seconds,
            "seconds_per_epoch": seconds / args.epochs,
            "frequencies_cm": frequencies.tolist(),
        }
    summary = {"reference_frequencies_cm": reference.tolist(), "runs": rows, "args": {k: str(v) for k, v in vars(args).items()}}
    (output / "study.json").write_text(json.dumps(summary, indent=2))
    print("| training | frequency MAE (cm^-1) | max error (cm^-1) | s/epoch |")
    print("| --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['frequency_mae_cm']:.0f} | {row['frequency_max_error_cm']:.0f} | {row['seconds_per_epoch']:.2f} |")


if __name__ == "__main__":
    main()
