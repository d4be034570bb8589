"""Train `PlanarPointSetModel` (SO(2)-equivariant layers) on 2-D point sets: the squared
radius of gyration (invariant) and the dipole (rotates with the set).

    python scripts/generate_planar_point_sets.py --output runs/extensions/planar_point_sets.npz
    OMP_NUM_THREADS=1 python scripts/train_planar_point_sets.py --data runs/extensions/planar_point_sets.npz

The last ``--n-test`` (500) sets are the test set, the rest train with Adam on random
minibatches of ``--batch`` (64) sets until ``--steps`` or ``--seconds``. Prints the test
MAE and RMSE of Rg^2 and of the dipole components, each also relative to the standard
deviation of the test targets (1 = no better than predicting the mean), and the test
errors after a random rotation of every test set (equal: the model is equivariant).
Writes the parity figure docs/figures/planar_point_sets.png.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equipot.extensions import fit_full_batch
from equipot.extensions.planar import PlanarPointSetModel, PointSets, planar_edges


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("runs/extensions/planar_point_sets.npz"))
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--mmax", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", type=Path, default=Path("docs/figures/planar_point_sets.png"))
    return parser.parse_args(argv)


def load(path: Path) -> PointSets:
    data = {k: torch.from_numpy(v) for k, v in np.load(path).items()}
    return PointSets(data["positions"], data["species"], data["batch"], data["rg2"], data["dipole"])


def rotated(sets: PointSets, seed: int) -> PointSets:
    """Every set rotated by its own random angle about the origin; targets rotated too."""
    angle = 2 * math.pi * torch.rand(sets.n_sets, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    c, s = angle.cos(), angle.sin()
    rotation = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    positions = torch.einsum("nab,nb->na", rotation[sets.batch], sets.positions)
    return PointSets(positions, sets.species, sets.batch, sets.rg2, torch.einsum("nab,nb->na", rotation, sets.dipole))


def errors(model: PlanarPointSetModel, sets: PointSets) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        rg2, dipole = model(sets.positions, sets.species, sets.batch, sets.n_sets)
    out = {}
    for name, predicted, target in (("rg2", rg2, sets.rg2), ("dipole", dipole, sets.dipole)):
        error = predicted - target
        out[f"{name}_mae"] = float(error.abs().mean())
        out[f"{name}_rmse"] = float(error.pow(2).mean().sqrt())
        out[f"{name}_rmse_over_std"] = out[f"{name}_rmse"] / float(target.std())
    return out, rg2, dipole


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sets = load(args.data)
    train, test = sets.subset(0, sets.n_sets - args.n_test), sets.subset(sets.n_sets - args.n_test, sets.n_sets)
    model = PlanarPointSetModel(channels=args.channels, mmax=args.mmax)
    scale_rg2, scale_dipole = float(train.rg2.std()), float(train.dipole.std())
    generator = torch.Generator().manual_seed(1)

    def loss() -> torch.Tensor:
        start = int(torch.randint(0, train.n_sets - args.batch + 1, (1,), generator=generator))
        batch = train.subset(start, start + args.batch)
        edges = planar_edges(batch.positions, batch.batch, model.cutoff)
        rg2, dipole = model(batch.positions, batch.species, batch.batch, batch.n_sets, edges)
        return ((rg2 - batch.rg2) / scale_rg2).pow(2).mean() + ((dipole - batch.dipole) / scale_dipole).pow(2).mean()

    history = fit_full_batch(model, loss, steps=args.steps, learning_rate=5e-3, seconds=args.seconds)
    results, rg2, dipole = errors(model, test)
    rotated_results, _, _ = errors(model, rotated(test, seed=2))
    results = {"steps": history.steps, "seconds": history.seconds, **results,
               **{f"rotated_{k}": v for k, v in rotated_results.items()}}
    for key, value in results.items():
        print(f"{key:30s} {value:.4g}")
    draw(test, rg2, dipole, results, args.figure)
    return results


def draw(test: PointSets, rg2: torch.Tensor, dipole: torch.Tensor, results: dict, path: Path) -> None:
    figure = Figure(figsize=(8.4, 4), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    left.scatter(test.rg2, rg2, s=6)
    left.set_title(f"$R_g^2$ (invariant): RMSE {results['rg2_rmse']:.3f}")
    right.scatter(test.dipole.flatten(), dipole.flatten(), s=6, c="C1")
    right.set_title(f"dipole x, y (rotates): RMSE {results['dipole_rmse']:.3f}")
    for ax, label in ((left, "$R_g^2$"), (right, "dipole component")):
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], "k-", lw=0.8)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"predicted {label}")
    figure.suptitle(f"{len(rg2)} test sets of 2-D points (length units)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
