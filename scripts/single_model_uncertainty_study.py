"""Does one model know when it does not know? Single-model uncertainties (last-layer
variance, descriptor distances) of a small model trained on the shipped 500 K ethanol data,
on held-out 500 K frames and on the 1000 K frames.

    python scripts/single_model_uncertainty_study.py --out runs/uq_single [--minutes 5 --channels 16]

The model trains on frames 0-1099 of ``shipped:ethanol`` (100 of them, at random, for
its own validation; one thread, ``--minutes``); frames 1100-1199, unseen by the model,
calibrate ``fit_last_layer_uncertainty``; ``fit_descriptor_distances`` is fitted on frames
0-1099; frames 1200-1499 are the 500 K test set. Per test
structure: predicted uncertainty against the actual force error (RMS over its atoms'
components, eV/Å), Spearman rho; and the mean uncertainty on 1000 K frames over that on
500 K frames. The force uncertainties are compared per atom too (Spearman rho against
|F_i - F_i,ref|): ``forces_std`` (the local estimate), ``forces_std_exact`` over all K
last-layer directions and over the ``--rank`` largest. The table goes to
docs/uncertainty.md ("Single-model uncertainty"). A finished training run
(``OUT/model/model.pt``) is reused.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

TEST_START, N_TRAIN = 1200, 1100


def _train(out: Path, minutes: float, channels: int) -> Path:
    from equipot.config import TrainConfig
    from equipot.train import fit

    model_path = out / "model" / "model.pt"
    if model_path.is_file():
        return model_path
    config = TrainConfig.model_validate(
        {
            "data": {"train_file": "shipped:ethanol", "index": f":{N_TRAIN}", "n_valid": 100},
            "model": {"num_channels": channels, "lmax": 1, "hidden_lmax": 1, "num_layers": 2, "correlation": 2,
                      "cutoff": 4.0, "radial_hidden": 16, "readout_hidden": 16},
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0},
            "batch_size": 8,
            "max_epochs": 200,
            "max_time_minutes": minutes,
            "threads": 1,
            "output_dir": str(out / "model"),
            "accelerator": "cpu",
        }
    )
    result = fit(config)
    return Path(result.best_model_path)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rank_x, rank_y = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rank_x, rank_y)[0, 1])


def _per_structure(potential, low_rank, frames) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per structure: each uncertainty and the force error; per atom: the force
    uncertainties and |F_i - F_i,ref|."""
    from equipot.data import batch_graphs

    names = ["energy_std", "forces_std", "forces_std_exact", "max_descriptor_distance", "descriptor_distance",
             "max_mahalanobis_distance", "mahalanobis_distance"]
    force_names = ("forces_std", "forces_std_exact", "forces_std_exact_low_rank")
    columns: dict[str, list[float]] = {name: [] for name in [*names, "forces_std_exact_low_rank", "force_error"]}
    atoms: dict[str, list[float]] = {name: [] for name in [*force_names, "force_error"]}
    for start in range(0, len(frames), 16):
        graphs = list(frames[start : start + 16])
        graph = batch_graphs(graphs)
        out = potential(graph, outputs={"energy", "forces", *names})
        out.extra["forces_std_exact_low_rank"] = low_rank(graph, outputs={"forces_std_exact"}).extra["forces_std_exact"]
        counts = torch.bincount(graph.batch).double()

        def mean(values):
            return values.new_zeros(graph.n_graphs).index_add(0, graph.batch, values) / counts

        error = (out.forces - graph.atom_targets["forces"]).square().sum(-1)
        columns["force_error"] += mean(error / 3).sqrt().tolist()
        atoms["force_error"] += error.sqrt().tolist()
        columns["energy_std"] += out.extra["energy_std"].tolist()
        for name in force_names:
            columns[name] += mean(out.extra[name].square()).sqrt().tolist()
            atoms[name] += out.extra[name].tolist()
        for name in ("max_descriptor_distance", "max_mahalanobis_distance"):
            columns[name] += out.extra[name].tolist()
        for name in ("descriptor_distance", "mahalanobis_distance"):
            columns[name] += mean(out.extra[name]).tolist()
    as_arrays = lambda table: {name: np.array(values) for name, values in table.items()}  # noqa: E731
    return as_arrays(columns), as_arrays(atoms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/uq_single"))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--rank", type=int, default=4, help="last-layer directions of the low-rank forces_std_exact")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from equipot.data import GraphDataset
    from equipot.data.shipped import resolve_data_path
    from equipot.models.io import load_model
    from equipot.uq import (LastLayerUncertainty, UncertaintyPotential, fit_descriptor_distances,
                            fit_last_layer_uncertainty, save_uncertainty_model)

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = _train(args.out, args.minutes, args.channels)
    model = load_model(model_path, dtype=torch.float64)
    ethanol = GraphDataset.from_file(resolve_data_path("shipped:ethanol"), model.cutoff)
    hot = GraphDataset.from_file(resolve_data_path("shipped:ethanol_1000K"), model.cutoff)
    train, valid, test = ethanol.graphs[:N_TRAIN], ethanol.graphs[N_TRAIN:TEST_START], ethanol.graphs[TEST_START:]
    start = time.perf_counter()
    potential = UncertaintyPotential(
        model, fit_last_layer_uncertainty(model, train, valid), fit_descriptor_distances(model, train)
    ).eval()
    fit_s = time.perf_counter() - start
    save_uncertainty_model(potential, args.out / "model_uq.pt")
    low_rank = UncertaintyPotential(model, LastLayerUncertainty.from_state({**potential.last_layer.state(), "force_rank": args.rank})).eval()
    (cold, cold_atoms), (warm, _) = _per_structure(potential, low_rank, test), _per_structure(potential, low_rank, hot.graphs)
    per_atom = {name: round(_spearman(cold_atoms[name], cold_atoms["force_error"]), 3)
                for name in cold_atoms if name != "force_error"}
    rows = {}
    for name in cold:
        if name == "force_error":
            continue
        rows[name] = {
            "spearman_vs_force_error_500K": round(_spearman(cold[name], cold["force_error"]), 3),
            "mean_500K": float(cold[name].mean()),
            "mean_1000K": float(warm[name].mean()),
            "ratio_1000K_over_500K": round(float(warm[name].mean() / cold[name].mean()), 3),
        }
    summary = {
        "model": str(model_path), "fit_s": round(fit_s, 1),
        "force_rmse_500K": float(np.sqrt(np.mean(cold["force_error"] ** 2))),
        "force_rmse_1000K": float(np.sqrt(np.mean(warm["force_error"] ** 2))),
        "flagged_fraction_500K": float(np.mean(cold["max_descriptor_distance"] > float(potential.descriptors.nearest_threshold))),
        "flagged_fraction_1000K": float(np.mean(warm["max_descriptor_distance"] > float(potential.descriptors.nearest_threshold))),
        "last_layer": {k: v for k, v in potential.last_layer.state().items() if not isinstance(v, torch.Tensor)},
        "low_rank": args.rank,
        "rows": rows,
        "spearman_per_atom_vs_force_error_500K": per_atom,
    }
    (args.out / "analysis.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
