"""The l_max study: models with l_max 0-3 trained with the same budget on ethanol and Cu.

For each l in ``--lmax`` the model uses spherical harmonics up to l on the edges and node
features up to l (``lmax = hidden_lmax = l``), with everything else equal (channels,
layers, cutoff, seed, epochs, data). Ethanol: GFN2-xTB frames of ``shipped:ethanol``
(training on the first ``--ethanol-train``, test on the last ``--n-test``); Cu: EMT frames
of ``shipped:cu`` (108 atoms, strained; energies, forces and stress, test on the last
``--n-test``; with ``--spread`` both sets are drawn evenly from the whole file, which holds
the MD runs temperature after temperature, so the test is not an extrapolation in
temperature; ``--scheduler cosine`` ends every model at the same small learning rate). Reported: test energy, force and (Cu) stress MAE, the force-direction error
(mean angle between predicted and reference forces, an angular error), the elastic
constants of the 4-atom cubic cell at EMT's lattice constant and the Zener anisotropy
A = 2 C44 / (C11 - C12) against EMT's, and the time per energy+forces call (108-atom Cu
cell, 9-atom ethanol), measured interleaved over the models (median of ``--timing-rounds``).
Each (system, l) writes ``runs/SYSTEM_lL.json`` in ``--output-dir`` and is skipped when it
exists; prints the table::

    OMP_NUM_THREADS=1 python scripts/lmax_study.py --output-dir lmax_study
    OMP_NUM_THREADS=1 python scripts/lmax_study.py --output-dir lmax_cu --systems cu --epochs 40 \
        --cu-train 12 --n-test 30 --spread --scheduler cosine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase.build import bulk
from ase.calculators.emt import EMT

SYSTEMS = {
    "ethanol": {"data": "shipped:ethanol", "cutoff": 4.0, "stress_weight": 0.0, "batch_size": 10},
    "cu": {"data": "shipped:cu", "cutoff": 4.5, "stress_weight": 100.0, "batch_size": 4},
}


def split(system: str, n_train: int, n_test: int, output: Path, spread: bool = False) -> tuple[Path, Path]:
    """Training and test files: the first ``n_train`` and last ``n_test`` frames, or with
    ``spread`` ``n_train + n_test`` frames evenly spaced over the file, alternately assigned
    to test and training (so both cover every part of it, e.g. every temperature of an MD
    set written run after run)."""
    from equipot.data.shipped import resolve_data_path

    train, test = output / f"{system}_train.xyz", output / f"{system}_test.xyz"
    if not train.exists():
        frames = ase.io.read(resolve_data_path(SYSTEMS[system]["data"]), index=":")
        if spread:
            picked = [frames[i] for i in np.linspace(0, len(frames) - 1, n_train + n_test).round().astype(int)]
            every = (n_train + n_test) / n_test
            testing = set(np.floor(np.arange(n_test) * every).astype(int).tolist())
            ase.io.write(train, [frame for i, frame in enumerate(picked) if i not in testing])
            ase.io.write(test, [frame for i, frame in enumerate(picked) if i in testing])
        else:
            ase.io.write(train, frames[:n_train])
            ase.io.write(test, frames[-n_test:])
    return train, test


def train(system: str, data: Path, output: Path, lmax: int, args: argparse.Namespace) -> Path:
    from equipot.config import TrainConfig
    from equipot.train import fit

    settings = SYSTEMS[system]
    config = TrainConfig.model_validate(
        {
            "data": {"train_file": str(data), "n_valid": max(2, len(ase.io.read(data, ":")) // 10)},
            "model": {"num_channels": args.channels, "num_layers": 2, "lmax": lmax, "hidden_lmax": lmax,
                      "cutoff": settings["cutoff"]},
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": settings["stress_weight"]},
            "optimizer": {"lr": 0.01},
            "scheduler": {"name": args.scheduler},
            "max_epochs": args.epochs,
            "batch_size": settings["batch_size"],
            "seed": args.seed,
            "dtype": "float32",
            "output_dir": str(output),
            "accelerator": "cpu",
        }
    )
    return fit(config).best_model_path


def force_angle_deg(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Mean angle (degrees) between predicted and reference force vectors [n, 3]."""
    cosine = (predicted * reference).sum(1) / (np.linalg.norm(predicted, axis=1) * np.linalg.norm(reference, axis=1))
    return float(np.degrees(np.arccos(np.clip(cosine, -1, 1))).mean())


def cubic_constants(source, a: float) -> dict[str, float]:
    """C11, C12, C44 (GPa) and A = 2 C44 / (C11 - C12) of the cubic fcc cell."""
    from equipot.properties.elastic import elastic_tensor

    constants = elastic_tensor(source, bulk("Cu", "fcc", a=a, cubic=True), stress_tolerance=100.0).cubic()
    return constants | {"A": 2 * constants["C44"] / (constants["C11"] - constants["C12"])}


def evaluate(system: str, model_path: Path, test: Path, a: float) -> dict[str, float]:
    from equipot import load_model
    from equipot.evaluation.evaluate import evaluate_file

    result = evaluate_file(model_path, test, dtype=torch.float64)
    row = {key: result.metrics[key] for key in ("energy_per_atom_mae", "forces_mae", "stress_mae") if key in result.metrics}
    row["force_angle_deg"] = force_angle_deg(result.forces_predicted, result.forces_reference)
    if system == "cu":
        row |= cubic_constants(load_model(model_path, dtype=torch.float64), a)
    return row


def call_seconds(model_paths: dict[int, Path], structure, rounds: int) -> dict[int, float]:
    """Median seconds of one energy+forces call per model, the models called in turn each round."""
    from equipot import load_model
    from equipot.data import graph_from_atoms

    models = {lmax: load_model(path) for lmax, path in model_paths.items()}
    graphs = {lmax: graph_from_atoms(structure, model.cutoff).to(dtype=model.dtype) for lmax, model in models.items()}
    times: dict[int, list[float]] = {lmax: [] for lmax in models}
    for _ in range(rounds):
        for lmax, model in models.items():
            start = time.perf_counter()
            for _ in range(5):
                model(graphs[lmax], outputs={"energy", "forces"})
            times[lmax].append((time.perf_counter() - start) / 5)
    return {lmax: statistics.median(values) for lmax, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmax", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--systems", nargs="+", choices=sorted(SYSTEMS), default=["ethanol", "cu"])
    parser.add_argument("--ethanol-train", type=int, default=200)
    parser.add_argument("--cu-train", type=int, default=40)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", choices=("plateau", "cosine", "none"), default="plateau",
                        help="learning-rate schedule (cosine: to 1e-6 at the last epoch, so every model ends converged)")
    parser.add_argument("--spread", action="store_true",
                        help="training and test frames evenly spread over the data set, alternating (default: first/last)")
    parser.add_argument("--timing-rounds", type=int, default=5)
    parser.add_argument("--output-dir", type=Path, default=Path("lmax_study"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    output = args.output_dir
    (output / "runs").mkdir(parents=True, exist_ok=True)
    from hessian_phonons_cu import emt_lattice_constant  # scripts/hessian_phonons_cu.py

    a = emt_lattice_constant()
    emt = cubic_constants(EMT(), a)
    rows = []
    for system in args.systems:
        n_train = args.ethanol_train if system == "ethanol" else args.cu_train
        train_file, test_file = split(system, n_train, args.n_test, output, args.spread)
        paths = {}
        for lmax in args.lmax:
            record = output / "runs" / f"{system}_l{lmax}.json"
            run = output / f"{system}_l{lmax}"
            if not record.exists():
                start = time.perf_counter()
                model_path = train(system, train_file, run, lmax, args)
                seconds = time.perf_counter() - start
                row = {"system": system, "lmax": lmax, "train_seconds": seconds, "model": str(model_path)}
                row |= evaluate(system, model_path, test_file, a)
                record.write_text(json.dumps(row, indent=2))
                print(f"{system} l={lmax}: {row}", flush=True)
            row = json.loads(record.read_text())
            paths[lmax] = Path(row["model"])
            rows.append(row)
        structure = ase.io.read(test_file, 0)
        for lmax, seconds in call_seconds(paths, structure, args.timing_rounds).items():
            next(r for r in rows if r["system"] == system and r["lmax"] == lmax)["call_ms"] = 1000 * seconds
    (output / "study.json").write_text(json.dumps({"rows": rows, "emt": emt, "argv": sys.argv}, indent=2))
    print(f"EMT at a = {a:.4f} Å: C11 {emt['C11']:.1f}, C12 {emt['C12']:.1f}, C44 {emt['C44']:.1f} GPa, A = {emt['A']:.2f}")
    print("| system | l_max | energy MAE (meV/atom) | force MAE (meV/Å) | force angle (°) | stress MAE (meV/Å³) "
          "| C11 / C12 / C44 (GPa) | A (EMT " + f"{emt['A']:.2f})" + " | ms per call |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        stress = f"{row['stress_mae']:.2f}" if "stress_mae" in row else ""
        elastic = f"{row['C11']:.0f} / {row['C12']:.0f} / {row['C44']:.0f}" if "C11" in row else ""
        anisotropy = f"{row['A']:.2f}" if "A" in row else ""
        print(f"| {row['system']} | {row['lmax']} | {row['energy_per_atom_mae']:.2f} | {row['forces_mae']:.1f} | "
              f"{row['force_angle_deg']:.1f} | {stress} | {elastic} | {anisotropy} | {row['call_ms']:.1f} |")


if __name__ == "__main__":
    main()
