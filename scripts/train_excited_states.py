"""Train `DiabaticHamiltonianModel` on the two-state linear vibronic coupling reference and
compare the adiabatic surfaces and couplings near the conical intersection.

    python scripts/generate_vibronic_model.py --output runs/extensions/vibronic.npz
    OMP_NUM_THREADS=1 python scripts/train_excited_states.py --data runs/extensions/vibronic.npz

Splits the frames 80/20 (train/test); minibatches of ``--batch`` frames, Adam with an
exponentially decaying learning rate, stops at ``--steps`` or ``--seconds``. Loss: mean
squared errors of the two adiabatic energies and their forces, plus the coupling vectors
<1|dH/dr|2> compared up to sign (`sign_invariant_error`), each divided by the variance of
its targets. Prints test RMSEs and the error of the couplings d_12 away from the
intersection, writes docs/figures/excited_states.png (cuts through the intersection) and
saves the weights (state dict) to runs/extensions/excited_states.pt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equipot.extensions.excited import (
    DiabaticHamiltonianModel,
    LinearVibronicReference,
    molecule_graphs,
    sign_invariant_error,
    triatomic_positions,
)
from equipot.models.potential import EquivariantPotential


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("runs/extensions/vibronic.npz"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=420.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, default=Path("docs/figures/excited_states.png"))
    parser.add_argument("--weights", type=Path, default=Path("runs/extensions/excited_states.pt"))
    return parser.parse_args(argv)


def split(data: dict[str, torch.Tensor], index: torch.Tensor, cutoff: float):
    """Graph and targets of the frames ``index``: energies [f, 2], forces [2, 3f, 3],
    coupling vectors [1, 3f, 3]."""
    graph = molecule_graphs(data["positions"][index], data["numbers"].tolist(), cutoff)
    forces = data["forces"][index].permute(1, 0, 2, 3).reshape(2, -1, 3)
    return graph, data["energies"][index], forces, data["coupling_vectors"][index].reshape(1, -1, 3)


def losses(model, graph, energies, forces, vectors, scales, create_graph):
    out = model(graph, create_graph=create_graph)
    n_graphs = energies.shape[0]
    terms = (
        (out.energies - energies).pow(2).mean() / scales[0],
        (out.forces - forces).pow(2).mean() / scales[1],
        sign_invariant_error(out.coupling_vectors, vectors, graph.batch, n_graphs).sum() / (vectors.numel() * scales[2]),
    )
    return out, terms


def cuts(reference: LinearVibronicReference, n: int = 61):
    """Geometries along the tuning coordinate t (c = 0 and c = 0.03 Å) and along the coupling
    coordinate c (t on the seam), and the coordinate values (Å)."""
    d0 = torch.tensor(reference.distances, dtype=torch.float64)
    t_ci = reference.intersection_tuning
    t = torch.linspace(t_ci - 0.25, t_ci + 0.25, n, dtype=torch.float64)
    c = torch.linspace(-0.2, 0.2, n, dtype=torch.float64)
    along_t = {offset: triatomic_positions(d0[0] + t / 2, d0[1] - t / 2, d0[2] + offset + 0 * t) for offset in (0.0, 0.03)}
    along_c = triatomic_positions(d0[0] + t_ci / 2 + 0 * c, d0[1] - t_ci / 2 + 0 * c, d0[2] + c)
    return t, c, along_t, along_c


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = {k: torch.from_numpy(v) for k, v in np.load(args.data).items()}
    n = data["positions"].shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))
    train, test = order[: int(0.8 * n)], order[int(0.8 * n):]
    reference = LinearVibronicReference()
    backbone = EquivariantPotential(species=list(reference.symbols), cutoff=4.0, num_channels=args.channels, lmax=1,
                                    num_layers=2, dtype=torch.float64)
    energies = data["energies"][train]
    model = DiabaticHamiltonianModel(backbone, n_states=2, hidden=32, element_scale=float(energies.std()),
                                     diagonal_shift=float(energies.mean()))
    scales = [float(energies.var()), float(data["forces"][train].var()), float(data["coupling_vectors"][train].var())]
    batches = [split(data, train[k: k + args.batch], 4.0) for k in range(0, len(train), args.batch)]
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, (1e-2) ** (1 / args.steps))
    start, step = time.perf_counter(), 0
    model.train()
    while step < args.steps and time.perf_counter() - start < args.seconds:
        batch = batches[step % len(batches)]
        optimizer.zero_grad()
        _, terms = losses(model, *batch, scales, create_graph=True)
        loss = sum(terms)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        scheduler.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step}  loss {float(loss):.4g}  ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    graph, test_energies, test_forces, test_vectors = split(data, test, 4.0)
    out = model(graph)
    out.energies = out.energies.detach()
    vector_error = sign_invariant_error(out.coupling_vectors, test_vectors, graph.batch, len(test))
    gaps = test_energies[:, 1] - test_energies[:, 0]
    away = gaps > 0.1
    d_ref = data["couplings"][test].reshape(1, -1, 3)
    d_error = sign_invariant_error(out.couplings, d_ref, graph.batch, len(test))[0]
    d_norm = d_ref[0].pow(2).reshape(-1, 9).sum(-1)
    results = {
        "steps": step,
        "seconds": seconds,
        "energy_rmse_state1": float((out.energies[:, 0] - test_energies[:, 0]).pow(2).mean().sqrt()),
        "energy_rmse_state2": float((out.energies[:, 1] - test_energies[:, 1]).pow(2).mean().sqrt()),
        "energy_std": float(test_energies.std()),
        "force_rmse": float((out.forces - test_forces).pow(2).mean().sqrt()),
        "force_std": float(test_forces.std()),
        "coupling_vector_rmse": float((vector_error.sum() / test_vectors.numel()).sqrt()),
        "coupling_vector_std": float(test_vectors.std()),
        "coupling_relative_error_gap_above_0.1eV": float((d_error[away] / d_norm[away]).sqrt().median()),
        "frames_gap_above_0.1eV": int(away.sum()),
        "test_gap_min": float(gaps.min()),
    }
    for key, value in results.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    args.weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.weights)
    plot(model, reference, data["numbers"].tolist(), args.figure)
    return results


def plot(model: DiabaticHamiltonianModel, reference: LinearVibronicReference, numbers: list[int], path: Path) -> None:
    t, c, along_t, along_c = cuts(reference)
    figure = Figure(figsize=(13, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    panels = ((axes[0], t, along_t[0.0], "tuning t (Å), c = 0"), (axes[1], c, along_c, "coupling c (Å), t on the seam"))
    for axis, x, positions, label in panels:
        ref = reference.states(positions)
        learned = model(molecule_graphs(positions, numbers, model.cutoff))
        for state in range(2):
            axis.plot(x, ref.energies[:, state].detach(), "k-", lw=1.5, label="reference" if state == 0 else None)
            axis.plot(x, learned.energies[:, state].detach(), "o", ms=3, color=f"C{state}",
                      label=f"model, state {state + 1}")
        axis.set_xlabel(label)
        axis.set_ylabel("adiabatic energy (eV)")
        axis.legend(fontsize=8)
    positions = along_t[0.03]
    ref = reference.states(positions)
    learned = model(molecule_graphs(positions, numbers, model.cutoff))

    def norms(couplings: torch.Tensor) -> torch.Tensor:
        return couplings[0].reshape(-1, 9).norm(dim=-1)

    axes[2].plot(t, norms(ref.couplings), "k-", lw=1.5, label="reference")
    axes[2].plot(t, norms(learned.couplings), "o", ms=3, color="C2", label="model")
    axes[2].set_xlabel("tuning t (Å), c = 0.03 Å")
    axes[2].set_ylabel("|d_12| (1/Å)")
    axes[2].legend(fontsize=8)
    figure.suptitle("Two-state linear vibronic coupling model: adiabatic surfaces and coupling near the intersection")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
