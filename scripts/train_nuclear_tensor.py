"""Fit `TwoNucleonPotential` to the toy central + spin-spin + tensor reference and report
how well the radial functions and the tensor operator S12 are recovered.

    python scripts/generate_nuclear_tensor.py --output runs/extensions/nuclear_tensor.npz
    OMP_NUM_THREADS=1 python scripts/train_nuclear_tensor.py --data runs/extensions/nuclear_tensor.npz

Splits the data 80/20 (train/test), trains full-batch with Adam (``--steps``, stops at
``--seconds``), prints the test RMSE of V (MeV) and the relative RMS error of each radial
function on 0.7-4.4 fm, the deviation of the learned spin coupling from V_T(r) S12, and
checks the operator identity S12^2 = 6 + 2 sigma1.sigma2 - 2 S12 on the learned 4 x 4
tensor operator. Writes the figure docs/figures/nuclear_tensor.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equipot.extensions import fit_full_batch
from equipot.extensions.nuclear import (
    ToyNucleonReference,
    TwoNucleonPotential,
    angular_structure_error,
    pauli_pair,
    relative_error,
    sample_configurations,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("runs/extensions/nuclear_tensor.npz"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", type=Path, default=Path("docs/figures/nuclear_tensor.png"))
    return parser.parse_args(argv)


def learned_tensor_identity_error(model: TwoNucleonPotential, distance: float) -> float:
    """max |S^2 - (6 + 2 s.s - 2 S)| / 6 for the learned S = (V - c - V_sigma s.s) / V_T."""
    r = torch.tensor([[0.3, -0.5, 0.81]], dtype=torch.float64)
    r = distance * r / r.norm()
    with torch.no_grad():
        matrix = model.operator(r)[0]
        parts = {k: float(v[0]) for k, v in model.radial_functions(r.norm(dim=-1)).items()}
    sigma_sigma = sum(pauli_pair(a, a) for a in range(3))
    s12 = (matrix - parts["central"] * np.eye(4) - parts["spin_spin"] * sigma_sigma) / parts["tensor"]
    return float(np.abs(s12 @ s12 - (6 * np.eye(4) + 2 * sigma_sigma - 2 * s12)).max() / 6)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = {k: torch.from_numpy(v) for k, v in np.load(args.data).items()}
    n_train = int(0.8 * len(data["V"]))
    train = {k: v[:n_train] for k, v in data.items()}
    test = {k: v[n_train:] for k, v in data.items()}
    scale = float(train["V"].std())
    model = TwoNucleonPotential(energy_scale=scale)

    def loss() -> torch.Tensor:
        return ((model(train["r"], train["s1"], train["s2"]) - train["V"]) / scale).pow(2).mean()

    history = fit_full_batch(model, loss, steps=args.steps, learning_rate=1e-2, seconds=args.seconds)
    reference = ToyNucleonReference()
    distance = torch.linspace(0.7, 4.4, 200, dtype=torch.float64)
    with torch.no_grad():
        test_rmse = float((model(test["r"], test["s1"], test["s2"]) - test["V"]).pow(2).mean().sqrt())
        fitted = model.radial_functions(distance)
        exact = reference.radial_functions(distance)
        directions, _, _ = sample_configurations(500, 0.7, 4.4, seed=7)
        results = {
            "steps": history.steps,
            "seconds": history.seconds,
            "test_rmse_MeV": test_rmse,
            "test_V_std_MeV": float(test["V"].std()),
            **{f"{name}_relative_error": relative_error(fitted[name], exact[name]) for name in fitted},
            "angular_structure_error": angular_structure_error(model, directions),
            "s12_identity_error": max(learned_tensor_identity_error(model, d) for d in (0.8, 1.5, 3.0)),
        }
    for key, value in results.items():
        print(f"{key:28s} {value:.4g}")
    draw(distance, fitted, exact, args.figure)
    return results


def draw(distance: torch.Tensor, fitted: dict, exact: dict, path: Path) -> None:
    figure = Figure(figsize=(12, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    titles = {"central": "central $V_c$", "spin_spin": r"spin-spin $V_\sigma$", "tensor": "tensor $V_T$"}
    for ax, name in zip(axes, fitted):
        ax.plot(distance, exact[name], "k-", lw=2, label="reference")
        ax.plot(distance, fitted[name], "C1--", lw=2, label="fitted")
        ax.set_xlabel("r (fm)")
        ax.set_ylabel("MeV")
        ax.set_title(f"{titles[name]}: rel. RMS error {relative_error(fitted[name], exact[name]):.3f}")
        ax.axhline(0, color="0.8", lw=0.8)
    axes[0].set_ylim(-100, 60)
    axes[0].legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
