"""Fit `SpinLatticePotential` to the Morse + Heisenberg reference (a ferromagnet or an
antiferromagnet) on energies, forces and effective fields, then check what it learned.

    python scripts/generate_spin_lattice.py --order ferro
    python scripts/generate_spin_lattice.py --order antiferro
    OMP_NUM_THREADS=1 python scripts/train_spin_lattice.py --order ferro
    OMP_NUM_THREADS=1 python scripts/train_spin_lattice.py --order antiferro

The last ``--n-test`` (48) frames are the test set, the first ``--n-train`` (192) train with
Adam on random minibatches of ``--batch`` (16) frames until ``--steps`` or ``--seconds``
(the loss weighs energy per atom, forces and fields, each over its spread). Prints the test RMSE of the energy (meV/atom),
forces (meV/Å) and fields (meV), the learned exchange J(r) against the reference (relative
RMS error over the pair distances of the test frames), the energy difference between the antiferromagnetic and
ferromagnetic orders of the ideal lattice (meV/atom; its sign says which order is the
ground state), and the total-energy drift of 200 fs of spin-lattice dynamics with the
trained model. Writes docs/figures/spin_lattice_ORDER.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equipot.extensions import fit_full_batch
from equipot.extensions.spin_lattice import (
    HeisenbergLatticeReference,
    LatticeEdges,
    SpinLatticeDynamics,
    SpinLatticePotential,
    lattice_edges,
    ordered_moments,
    simple_cubic,
)

EXCHANGE = {"ferro": 0.02, "antiferro": -0.02}
LATTICE = 2.6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", choices=sorted(EXCHANGE), default="ferro")
    parser.add_argument("--data", type=Path, default=None, help="default runs/extensions/spin_lattice_ORDER.npz")
    parser.add_argument("--n-test", type=int, default=48)
    parser.add_argument("--n-train", type=int, default=192)
    parser.add_argument("--batch", type=int, default=16, help="frames per step")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", type=Path, default=None, help="default docs/figures/spin_lattice_ORDER.png")
    parser.add_argument("--save", type=Path, default=None,
                        help="write the trained weights (state_dict) here, default runs/extensions/spin_lattice_ORDER.pt")
    return parser.parse_args(argv)


def frame_edges(frames: dict[str, torch.Tensor], cutoff: float) -> list[LatticeEdges]:
    return [lattice_edges(frames["positions"][f], frames["cells"][f], (True, True, True), cutoff)
            for f in range(len(frames["energy"]))]


def batched(frames: dict[str, torch.Tensor], parts: list[LatticeEdges], index: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, LatticeEdges, torch.Tensor]:
    """Frames ``index`` as one system of disconnected copies: positions, moments [F n, 3],
    edges, and the frame (0 .. F-1) of each edge."""
    n_atoms = frames["positions"].shape[1]
    chosen = [parts[int(f)] for f in index]
    edges = LatticeEdges(
        torch.cat([p.senders + k * n_atoms for k, p in enumerate(chosen)]),
        torch.cat([p.receivers + k * n_atoms for k, p in enumerate(chosen)]),
        torch.cat([p.offsets for p in chosen]),
    )
    frame_of_edge = torch.cat([torch.full_like(p.senders, k) for k, p in enumerate(chosen)])
    return frames["positions"][index].reshape(-1, 3), frames["moments"][index].reshape(-1, 3), edges, frame_of_edge


def predict(model, frames, parts, index, create_graph=False):
    """Energies [F], forces and fields [F, n, 3] of frames ``index``."""
    positions, moments, edges, frame_of_edge = batched(frames, parts, index)
    positions.requires_grad_(True)
    moments.requires_grad_(True)
    pairs = model.pair_energies(positions, moments, edges)
    energy = torch.zeros(len(index), dtype=pairs.dtype).index_add(0, frame_of_edge, pairs)
    grad_r, grad_m = torch.autograd.grad(energy.sum(), (positions, moments), create_graph=create_graph)
    shape = (len(index), *frames["positions"].shape[1:])
    return energy, -grad_r.reshape(shape), -grad_m.reshape(shape)


def order_energy_gap(energy_function, cutoff: float) -> float:
    """(E_antiferro - E_ferro) per atom (meV) on the ideal 4 x 4 x 4 lattice."""
    positions, cell = simple_cubic(4, LATTICE)
    edges = lattice_edges(positions, cell, (True, True, True), cutoff)
    with torch.no_grad():
        energies = [float(energy_function(positions, ordered_moments(positions, LATTICE, o), edges)) for o in ("antiferro", "ferro")]
    return (energies[0] - energies[1]) / len(positions) * 1000


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = {k: torch.from_numpy(v) for k, v in np.load(args.data or f"runs/extensions/spin_lattice_{args.order}.npz").items()}
    n_atoms = data["positions"].shape[1]
    n_train = min(args.n_train, len(data["energy"]) - args.n_test)
    train = {k: v[:n_train] for k, v in data.items()}
    test = {k: v[-args.n_test:] for k, v in data.items()}
    reference = HeisenbergLatticeReference(exchange=EXCHANGE[args.order])
    model = SpinLatticePotential(cutoff=reference.cutoff, energy_scale=0.3)
    energy_scale = float((train["energy"] / n_atoms).std())
    force_scale, field_scale = float(train["forces"].std()), float(train["fields"].std())
    train_parts = frame_edges(train, model.cutoff)
    generator = torch.Generator().manual_seed(1)

    def loss() -> torch.Tensor:
        index = torch.randperm(n_train, generator=generator)[: args.batch]
        energy, forces, fields = predict(model, train, train_parts, index, create_graph=True)
        return (((energy - train["energy"][index]) / n_atoms / energy_scale).pow(2).mean()
                + ((forces - train["forces"][index]) / force_scale).pow(2).mean()
                + ((fields - train["fields"][index]) / field_scale).pow(2).mean())

    history = fit_full_batch(model, loss, steps=args.steps, learning_rate=1e-2, seconds=args.seconds)
    energy, forces, fields = predict(model, test, frame_edges(test, model.cutoff), torch.arange(args.n_test))
    distance = torch.linspace(2.3, 3.9, 100, dtype=torch.float64)
    sampled = torch.cat([p.vectors(test["positions"][f]).norm(dim=-1)
                         for f, p in enumerate(frame_edges(test, model.cutoff))])  # distances in the data
    with torch.no_grad():
        learned, exact = model.radial_functions(distance), reference.radial_functions(distance)
        learned_at_data, exact_at_data = model.radial_functions(sampled), reference.radial_functions(sampled)
    positions, cell = simple_cubic(3, LATTICE)
    moments = ordered_moments(positions, LATTICE, args.order)
    tilt = torch.randn(moments.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    moments = moments + 0.3 * tilt
    dynamics = SpinLatticeDynamics(model, positions + 0.05 * tilt.flip(0), moments / moments.norm(dim=-1, keepdim=True),
                                   torch.full((n_atoms,), 55.845), cell, (True, True, True), model.cutoff, dt=1.0)
    totals = dynamics.run(200)
    results = {
        "steps": history.steps,
        "seconds": history.seconds,
        "energy_rmse_meV_per_atom": float(((energy.detach() - test["energy"]) / n_atoms).pow(2).mean().sqrt()) * 1000,
        "energy_std_meV_per_atom": float((test["energy"] / n_atoms).std()) * 1000,
        "forces_rmse_meV_per_A": float((forces - test["forces"]).pow(2).mean().sqrt()) * 1000,
        "forces_std_meV_per_A": float(test["forces"].std()) * 1000,
        "fields_rmse_meV": float((fields - test["fields"]).pow(2).mean().sqrt()) * 1000,
        "fields_std_meV": float(test["fields"].std()) * 1000,
        "exchange_relative_error_at_data_distances": float(
            (learned_at_data["exchange"] - exact_at_data["exchange"]).pow(2).mean().sqrt()
            / exact_at_data["exchange"].pow(2).mean().sqrt()),
        "anisotropic_rms_at_data_distances_meV": float(learned_at_data["anisotropic"].pow(2).mean().sqrt()) * 1000,
        "afm_minus_fm_meV_per_atom_model": order_energy_gap(model, model.cutoff),
        "afm_minus_fm_meV_per_atom_reference": order_energy_gap(reference, reference.cutoff),
        "md_200fs_energy_drift_meV": (totals[-1] - totals[0]) * 1000,
        "md_200fs_energy_spread_meV": (max(totals) - min(totals)) * 1000,
    }
    save = args.save or Path(f"runs/extensions/spin_lattice_{args.order}.pt")
    save.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), save)
    for key, value in results.items():
        print(f"{key:42s} {value:.6g}")
    draw(distance, learned, exact, sampled, args.order,
         args.figure or Path(f"docs/figures/spin_lattice_{args.order}.png"))
    return results


def draw(distance, learned, exact, sampled, order, path: Path) -> None:
    figure = Figure(figsize=(8.4, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    for ax, name, title in ((left, "pair", "pair potential"), (right, "exchange", "exchange J(r)")):
        ax.plot(distance, exact[name] * 1000, "k-", lw=2, label="reference")
        ax.plot(distance, learned[name] * 1000, "C1--", lw=2, label="learned")
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("meV")
        ax.set_title(f"{order}magnet: {title}")
        twin = ax.twinx()
        twin.hist(sampled.numpy(), bins=60, range=(2.3, 3.9), color="0.85", zorder=0)
        twin.set_yticks([])
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
    right.plot(distance, learned["anisotropic"] * 1000, "C2:", lw=1.5, label="learned anisotropic K(r) (reference 0)")
    right.axhline(0, color="0.8", lw=0.8)
    right.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
