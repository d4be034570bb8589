"""Local-only model vs hybrid (local + learned-charge Ewald) on NaCl, same data and budget.

Both are trained with `equipot.train.fit` on the rocksalt frames of
`generate_nacl_bmh.py` (energies, forces, stress), with the same architecture, seed, split
and number of epochs; the hybrid adds ``model.long_range`` (``--charges neutral``: bare
Coulomb, Ewald; ``--charges qeq``: Gaussian charges of width 1 Å; ``--charges fixed``: the
formal charges Na +1, Cl −1 e, not learned, bare Coulomb) and, with
``--charge-weight`` > 0, a loss on the reference (formal) charges the frames carry
(``loss.targets: {charges: {weight: ...}}``; the charge head then starts at them), or with
``--formal-start`` learned charges that start at the formal ones without needing them in
the data (``long_range.initial_charges``). Then both are evaluated on the held-out
rocksalt test frames and on the CsCl-structure frames, which neither model saw:

- energy MAE (meV/atom) and force MAE (meV/Å) on each set;
- the CsCl − rocksalt energy difference: mean energy per atom of the CsCl frames minus
  that of uncompressed rocksalt frames (meV/atom), predicted and reference. Those are the
  frames of ``--gap-frames`` (a held-out rocksalt set from the same MD temperatures, with
  the energy and force errors on it), or else the rocksalt test frames at zero compression
  (test frames of compressed cells, ``info["compression"]`` < 0 from
  ``generate_nacl_bmh.py --compressions``, sit 0.1–0.4 eV/atom higher and are left out);
- the hybrid's mean |q| (e) on the rocksalt test frames and on the CsCl frames (the
  reference has 1 e), and, as a diagnostic, its CsCl − rocksalt difference with the Coulomb
  energy of the formal charges in place of its learned charges' (its short-range part alone).

Prints a Markdown table (pasted into docs/longrange.md) and writes it with the numbers to
``<output-dir>/nacl_study.json``::

    python scripts/longrange_nacl_study.py --data-dir runs/nacl_bmh --output-dir runs/nacl_study --epochs 8 \
        --charge-weight 1.0 --seed 0
    python scripts/longrange_nacl_study.py --data-dir runs/nacl_bmh --output-dir runs/nacl_fixed_s0 --epochs 8 \
        --charges fixed --only hybrid --seed 0

``--cutoff`` is both models' local cutoff unless ``--hybrid-cutoff`` gives the hybrid its
own (its Coulomb term is exact, so its network needs only the short range);
``--energy-weight`` the energy loss weight of both (forces 10, stress 1); ``--layers`` and
``--correlation`` both models' depth and body order; ``--cscl-frames`` evaluates on another
file's CsCl frames than ``<data-dir>/nacl_cscl.xyz.gz`` (e.g. training on a set made with a
larger ``--max-strain`` while evaluating on the same CsCl frames as before).

With ``--only``, two processes can train the local model and a hybrid into the same
``--output-dir`` side by side; a last call without ``--only`` finds both model files and
prints the table of both. ``--summarize DIR...`` prints the per-seed rows of several such
output dirs and each model's mean ± std (the five-seed table of docs/longrange.md).
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
from equipot import load_potential
from equipot.config import TrainConfig
from equipot.train import fit


def train_config(args: argparse.Namespace, name: str, long_range: bool) -> TrainConfig:
    model = {
        "num_channels": args.channels,
        "num_layers": args.layers,
        "lmax": 1,
        "hidden_lmax": 1,
        "correlation": args.correlation,
        "cutoff": args.hybrid_cutoff if long_range and args.hybrid_cutoff else args.cutoff,
    }
    loss: dict = {"energy_weight": args.energy_weight, "forces_weight": 10.0, "stress_weight": 1.0}
    if long_range:
        model["long_range"] = {"charges": args.charges, "accuracy": 1e-4, "real_space_cutoff": 8.0}
        if args.charges == "qeq":
            model["long_range"].update({"screening": "gaussian", "sigma": 1.0})
        else:
            model["long_range"]["screening"] = "none"
        if args.charges == "fixed":  # the formal charges of the reference, nothing learned
            model["long_range"]["fixed_charges"] = {"Na": 1.0, "Cl": -1.0}
        if args.formal_start:  # learned charges that start at the formal ones, with or without a charge loss
            model["long_range"]["initial_charges"] = {"Na": 1.0, "Cl": -1.0}
        if args.charge_weight > 0:
            loss["targets"] = {"charges": {"weight": args.charge_weight}}  # the frames' formal charges (e)
    return TrainConfig.model_validate({
        "data": {"train_file": str(args.data_dir / "nacl_rocksalt.xyz.gz"), "valid_fraction": 0.1, "test_fraction": 0.1},
        "model": model,
        "loss": loss,
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


def predictions(model_path: Path, frames: list) -> tuple[np.ndarray, np.ndarray, float | None, np.ndarray | None]:
    """Energies per atom (eV) [n_frames], all forces (eV/Å) [n_atoms, 3], the mean |q| (e)
    and, as a diagnostic, the energies per atom (eV) [n_frames] with the Coulomb term of the
    frames' formal charges in place of the learned charges' (the last two None for a local
    model)."""
    model = load_potential(model_path, dtype=torch.float64)
    hybrid = "charges" in model.output_specs()
    outputs = {"energy", "forces"} | ({"charges", "energy_short_range"} if hybrid else set())
    energies, forces, charges, formal = [], [], [], []
    for atoms in frames:
        graph = graph_from_atoms(atoms, model.cutoff)
        output = model(graph, outputs=outputs, create_graph=False)
        energies.append(float(output.energy.detach()[0]) / len(atoms))
        forces.append(output.forces.detach().numpy())
        if hybrid:
            charges.append(output.extra["charges"].detach().abs().numpy())
            q = torch.as_tensor(atoms.calc.results["charges"], dtype=torch.float64)
            with torch.no_grad():
                coulomb = model.coulomb(q, graph.positions, graph.cell, graph.pbc, graph.batch)[0].sum()
            formal.append((float(output.extra["energy_short_range"].detach()[0]) + float(coulomb)) / len(atoms))
    if not hybrid:
        return np.array(energies), np.concatenate(forces), None, None
    return np.array(energies), np.concatenate(forces), float(np.concatenate(charges).mean()), np.array(formal)


def reference(frames: list) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([a.get_potential_energy() / len(a) for a in frames]), np.concatenate([a.get_forces() for a in frames]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("runs/nacl_bmh"))
    parser.add_argument("--output-dir", type=Path, default=Path("runs/nacl_study"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=60.0, help="cap on each training (minutes)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--hybrid-cutoff", type=float, default=None,
                        help="the hybrid's local cutoff (Å), if not --cutoff: its Coulomb term needs no long local reach")
    parser.add_argument("--energy-weight", type=float, default=1.0, help="loss weight of energies (forces 10, stress 1)")
    parser.add_argument("--layers", type=int, default=2, help="interaction layers of both models")
    parser.add_argument("--correlation", type=int, default=2, help="body order of both models' product basis")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--gap-frames", type=Path, default=None,
        help="held-out uncompressed rocksalt frames (extxyz) for the CsCl − rocksalt difference; default: the test split's",
    )
    parser.add_argument("--cscl-frames", type=Path, default=None,
                        help="the CsCl-structure frames to evaluate on (extxyz); default: <data-dir>/nacl_cscl.xyz.gz")
    parser.add_argument("--only", choices=["local", "hybrid"], default=None, help="train one model only")
    parser.add_argument("--summarize", type=Path, nargs="+", default=None, metavar="DIR",
                        help="print the per-seed rows and their mean ± std from these output dirs' nacl_study.json; train nothing")
    parser.add_argument(
        "--charges", choices=["neutral", "qeq", "fixed"], default="neutral",
        help="the hybrid's charge scheme (fixed: Na +1, Cl -1 e, not learned)",
    )
    parser.add_argument(
        "--charge-weight", type=float, default=0.0,
        help="weight of the hybrid's loss on the frames' reference (formal) charges; 0: energies, forces, stress only",
    )
    parser.add_argument(
        "--formal-start", action="store_true",
        help="learned charges (neutral, qeq) start at the formal Na +1, Cl -1 e (long_range.initial_charges)",
    )
    args = parser.parse_args()
    if args.formal_start and args.charges == "fixed":
        parser.error("--formal-start is for learned charges (--charges neutral or qeq)")
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    torch.set_num_threads(1)
    results: dict[str, dict] = {}
    cscl = ase.io.read(args.cscl_frames or args.data_dir / "nacl_cscl.xyz.gz", index=":")
    held_out = ase.io.read(args.gap_frames, index=":") if args.gap_frames else []
    for name, long_range in (("local", False), ("hybrid", True)):
        if args.only not in (None, name):
            continue
        run = args.output_dir / name
        model_path = run / "model.pt"
        if not model_path.is_file():
            fit(train_config(args, name, long_range))
        with open(run / "metrics.csv") as handle:
            last = list(csv.DictReader(handle))[-1]
        seconds, epochs = float(last["wall_time_s"]), float(last["epoch"])
        if epochs < args.epochs:  # the time cap stopped it: the budgets differ
            raise SystemExit(f"{name} trained {epochs:.2f} of {args.epochs} epochs (--max-minutes); train both again with a larger cap")
        results[name] = {"train_seconds": seconds, "epochs": epochs, "model": str(model_path), "seed": args.seed}
        if long_range:
            results[name].update(charges=args.charges, charge_weight=args.charge_weight)
    for name, record in results.items():
        frames = _test_frames(args, name)
        if not held_out and all(atoms.info.get("compression", 0.0) != 0.0 for atoms in frames):
            raise SystemExit("no uncompressed rocksalt test frame to take CsCl − rocksalt against; pass --gap-frames FILE")
        row = {}
        sets = [("rocksalt", frames), ("cscl", cscl)] + ([("held_out", held_out)] if held_out else [])
        for label, subset in sets:
            e_ref, f_ref = reference(subset)
            e_pred, f_pred, mean_abs_q, e_formal = predictions(Path(record["model"]), subset)
            uncompressed = np.array([atoms.info.get("compression", 0.0) == 0.0 for atoms in subset])  # the gap's frames
            row[f"{label}_mean_abs_charge_e"] = mean_abs_q
            row[f"{label}_mean_energy_formal_charges"] = None if e_formal is None else float(e_formal[uncompressed].mean())
            row[f"{label}_energy_mae_meV_per_atom"] = 1000 * float(np.abs(e_pred - e_ref).mean())
            row[f"{label}_forces_mae_meV_per_A"] = 1000 * float(np.abs(f_pred - f_ref).mean())
            row[f"{label}_mean_energy_pred"] = float(e_pred[uncompressed].mean())
            row[f"{label}_mean_energy_ref"] = float(e_ref[uncompressed].mean())
            row[f"{label}_gap_frames"] = int(uncompressed.sum())
        base = "held_out" if held_out else "rocksalt"  # the rocksalt side of the gap
        row["gap_rocksalt_frames"] = row[f"{base}_gap_frames"]
        row["gap_pred_meV_per_atom"] = 1000 * (row["cscl_mean_energy_pred"] - row[f"{base}_mean_energy_pred"])
        row["gap_ref_meV_per_atom"] = 1000 * (row["cscl_mean_energy_ref"] - row[f"{base}_mean_energy_ref"])
        if row["cscl_mean_energy_formal_charges"] is not None:  # diagnostic: the hybrid's local part with exact charges
            row["gap_formal_charges_meV_per_atom"] = 1000 * (
                row["cscl_mean_energy_formal_charges"] - row[f"{base}_mean_energy_formal_charges"]
            )
        record.update(row)
    lines = [
        "| model | seed | rocksalt test E MAE (meV/atom) | rocksalt test F MAE (meV/Å) | CsCl E MAE (meV/atom) | CsCl F MAE (meV/Å) | CsCl − rocksalt (meV/atom), reference | predicted | error | mean \\|q\\| rocksalt / CsCl (e) | training (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        start = ", formal start" if args.formal_start else ""
        label = name if name == "local" else f"hybrid ({args.charges}, charge loss {args.charge_weight:g}{start})"
        charge = "–" if r["rocksalt_mean_abs_charge_e"] is None else f"{r['rocksalt_mean_abs_charge_e']:.3f} / {r['cscl_mean_abs_charge_e']:.3f}"
        lines.append(
            f"| {label} | {args.seed} | {r['rocksalt_energy_mae_meV_per_atom']:.2f} | {r['rocksalt_forces_mae_meV_per_A']:.1f} | "
            f"{r['cscl_energy_mae_meV_per_atom']:.1f} | {r['cscl_forces_mae_meV_per_A']:.1f} | "
            f"{r['gap_ref_meV_per_atom']:.1f} | {r['gap_pred_meV_per_atom']:.1f} | "
            f"{r['gap_pred_meV_per_atom'] - r['gap_ref_meV_per_atom']:+.1f} | {charge} | {r['train_seconds']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    for name, r in results.items():
        where = f"--gap-frames {args.gap_frames}" if held_out else "the uncompressed rocksalt test frames"
        print(f"{name}: CsCl − rocksalt over {len(cscl)} CsCl frames and {r['gap_rocksalt_frames']} of {where}", end="")
        if held_out:
            print(f"; E MAE on those {r['held_out_energy_mae_meV_per_atom']:.2f} meV/atom, "
                  f"F MAE {r['held_out_forces_mae_meV_per_A']:.1f} meV/Å", end="")
        print()
    for name, r in results.items():
        if "gap_formal_charges_meV_per_atom" in r:
            print(f"{name}: CsCl − rocksalt with the formal charges' Coulomb term in place of the learned charges' "
                  f"(diagnostic): {r['gap_formal_charges_meV_per_atom']:.1f} meV/atom; mean |q| on CsCl "
                  f"{r['cscl_mean_abs_charge_e']:.4f} e, on rocksalt {r['rocksalt_mean_abs_charge_e']:.4f} e")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "nacl_study.json").write_text(json.dumps({"results": results, "table": table}, indent=2) + "\n")
    return 0


#: the columns of ``summarize``: (heading, key of a results record); the gap error is computed
SUMMARY_COLUMNS = (
    ("rocksalt test E", "rocksalt_energy_mae_meV_per_atom"), ("rocksalt test F", "rocksalt_forces_mae_meV_per_A"),
    ("held-out rocksalt E", "held_out_energy_mae_meV_per_atom"), ("held-out rocksalt F", "held_out_forces_mae_meV_per_A"),
    ("CsCl E", "cscl_energy_mae_meV_per_atom"), ("CsCl F", "cscl_forces_mae_meV_per_A"),
    ("CsCl − rocksalt error", "gap_error"),
)


def summarize(folders: list[Path]) -> str:
    """A Markdown table of several runs of the study (one per seed): each model's row per
    seed, then its mean ± standard deviation and mean |gap error|. Energies meV/atom, forces
    meV/Å; the held-out columns need ``--gap-frames``."""
    rows: dict[str, list[dict]] = {}
    for folder in folders:
        if not (folder / "nacl_study.json").is_file():
            raise SystemExit(f"{folder} holds no nacl_study.json; run the study's evaluation (without --only) there first")
        for name, record in json.loads((folder / "nacl_study.json").read_text())["results"].items():
            record = {**record, "gap_error": record["gap_pred_meV_per_atom"] - record["gap_ref_meV_per_atom"]}
            rows.setdefault(name, []).append(record)
    headings = [heading for heading, _ in SUMMARY_COLUMNS]
    lines = ["| model | seed | " + " | ".join(headings) + " |", "| --- " * (len(headings) + 2) + "|"]
    for name, records in rows.items():
        for record in sorted(records, key=lambda r: r["seed"]):
            values = [record.get(key) for _, key in SUMMARY_COLUMNS]
            lines.append(f"| {name} | {record['seed']} | " + " | ".join(_cell(v, key) for v, (_, key) in zip(values, SUMMARY_COLUMNS)) + " |")
    for name, records in rows.items():
        cells = []
        for _, key in SUMMARY_COLUMNS:
            values = np.array([r[key] for r in records if r.get(key) is not None], dtype=float)
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{_cell(values.mean(), key)} ± {_cell(spread, key)}" if len(values) else "")
        mean_abs = np.mean([abs(r["gap_error"]) for r in records])
        lines.append(f"| **{name}, mean ± std** | {len(records)} seeds | " + " | ".join(cells) + f" (mean \\|error\\| {mean_abs:.1f}) |")
    reference = {round(r["gap_ref_meV_per_atom"], 1) for records in rows.values() for r in records}
    return "\n".join(lines) + f"\n\nCsCl − rocksalt reference: {', '.join(map(str, sorted(reference)))} meV/atom"


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if "energy_mae" in key else f"{value:.1f}"


def _test_frames(args: argparse.Namespace, name: str) -> list:
    """The rocksalt frames of this run's test split (the split `fit` made, from its config)."""
    from equipot.train.data import load_training_data

    config = TrainConfig.model_validate(yaml.safe_load((args.output_dir / name / "config.yaml").read_text()))
    data = load_training_data(config, config.model.cutoff)
    everything = ase.io.read(config.data.train_file, index=":")  # the file it trained on, whatever --data-dir says
    assert data.test is not None
    return [everything[_frame_index(n)] for n in data.test.names]


def _frame_index(name: str) -> int:
    return int(name.split()[1])  # "structure 12 of nacl_rocksalt.xyz.gz"


if __name__ == "__main__":
    raise SystemExit(main())
