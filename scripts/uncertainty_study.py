"""Does a committee know when it does not know? A committee of small models trained on the
shipped 500 K ethanol data (docs/data.md), evaluated on held-out 500 K frames and on the
1000 K frames (hotter, partly outside the training distribution).

    python scripts/uncertainty_study.py train   --out runs/uq_study [--members 4 --parallel 2 --minutes 4]
    python scripts/uncertainty_study.py analyze --out runs/uq_study

``train``: frames 0-1199 of ``shipped:ethanol`` train and validate (100 held out for
validation), frames 1200-1499 (the last 3 ps of the trajectory) are the 500 K test set;
``equipot.train.fit_committee`` trains the members (seeds 0..N-1, one thread each,
``--parallel`` at a time, each stopped after ``--minutes``). ``analyze``: the committee's
force std against the actual force error per structure on the 500 K test frames
(Spearman rho, miscalibration area, NLL; calibration.png) and the mean uncertainty on
1000 K frames over that on 500 K frames. The table goes to docs/uncertainty.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ase.io
import numpy as np
import torch

TEST_START = 1200


def train(out: Path, members: int, parallel: int, minutes: float, channels: int) -> None:
    from equipot.config import TrainConfig
    from equipot.data.shipped import read_shipped_dataset
    from equipot.train import fit_committee

    out.mkdir(parents=True, exist_ok=True)
    test_file = out / "test_500K.xyz"
    ase.io.write(test_file, read_shipped_dataset("ethanol")[TEST_START:])
    config = TrainConfig.model_validate(
        {
            "data": {"train_file": "shipped:ethanol", "index": f":{TEST_START}", "n_valid": 100, "test_file": str(test_file)},
            "model": {"num_channels": channels, "lmax": 1, "hidden_lmax": 1, "num_layers": 2, "correlation": 2,
                      "cutoff": 4.0, "radial_hidden": 16, "readout_hidden": 16},
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0},
            "batch_size": 8,
            "max_epochs": 200,
            "max_time_minutes": minutes,
            "threads": 1,
            "output_dir": str(out / "committee"),
            "accelerator": "cpu",
        }
    )
    start = time.perf_counter()
    result = fit_committee(config, members, parallel=parallel)
    elapsed = time.perf_counter() - start
    summary = {"members": members, "parallel": parallel, "minutes_per_member": minutes, "channels": channels,
               "wall_s": round(elapsed, 1), "committee": str(result.committee_path),
               "member_test_metrics": [m["test_metrics"] for m in result.members]}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(summary, indent=2, default=str))


def analyze(out: Path) -> None:
    from equipot.data import GraphDataset
    from equipot.data.shipped import resolve_data_path
    from equipot.evaluation import evaluate_model
    from equipot.evaluation import calibration_report, collect_uncertainties
    from equipot.plots.calibration import calibration_plot
    from equipot.uq import load_committee

    torch.set_num_threads(1)
    committee = load_committee(out / "committee" / "committee.pt")
    sets = {"500 K test": str(out / "test_500K.xyz"), "1000 K": resolve_data_path("shipped:ethanol_1000K")}
    rows, means = [], {}
    for label, path in sets.items():
        dataset = GraphDataset.from_file(path, cutoff=committee.cutoff, dtype=committee.dtype)
        result = evaluate_model(committee, dataset, batch_size=16)
        pairs = collect_uncertainties(committee, dataset, batch_size=16)
        report = calibration_report(pairs)
        means[label] = {f"mean_sigma_{name}": float(np.mean(pair.sigma)) for name, pair in pairs.items()}
        means[label]["forces_mae_meV_per_A"] = result.metrics["forces_mae"]
        means[label]["energy_mae_meV_per_atom"] = result.metrics["energy_per_atom_mae"]
        for line in report:
            rows.append({"set": label, **line.to_dict()})
        if label == "500 K test":
            calibration_plot(pairs, out / "calibration.png")
    ratio = {name: means["1000 K"][name] / means["500 K test"][name] for name in means["500 K test"]}
    summary = {"rows": rows, "means": means, "ratio_1000K_over_500K": ratio}
    (out / "analysis.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "analyze"])
    parser.add_argument("--out", type=Path, default=Path("runs/uq_study"))
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=4.0, help="training time per member")
    parser.add_argument("--channels", type=int, default=16)
    args = parser.parse_args()
    if args.step == "train":
        train(args.out, args.members, args.parallel, args.minutes, args.channels)
    else:
        analyze(args.out)


if __name__ == "__main__":
    main()
