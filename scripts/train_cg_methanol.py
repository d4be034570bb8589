"""Oriented coarse-grained methanol: force-and-torque matching of one oriented bead per
molecule on GFN1-xTB MD, CG Langevin MD, and the bead-bead pair correlations against the
mapped all-atom trajectory, beside an isotropic-bead model trained on the same frames.

    OMP_NUM_THREADS=1 python scripts/generate_cg_methanol.py --output runs/extensions/cg_methanol.npz
    OMP_NUM_THREADS=1 python scripts/train_cg_methanol.py --data runs/extensions/cg_methanol.npz

Bead I: centre of mass of molecule I, orientation ``u_I`` from the centre of mass to the
oxygen (polar, 1o); mapped force (sum of atomic forces) and torque (about the centre of
mass; its part perpendicular to ``u`` is matched). The last ``--test-fraction`` of each
trajectory is held out. Models, each trained for ``--steps`` Adam steps or ``--seconds``:

- oriented: `OrientedBeadPotential` (pair invariants of r_hat, u_i, u_j), loss
  ``|dF|^2 + w |dtau_perp|^2`` with ``w = var(F) / var(tau_perp)``; CG MD with
  `OrientedBeadLangevin` (bead mass, moment of inertia of the molecule about axes
  perpendicular to u averaged over the data);
- isotropic: `EquivariantPotential` over beads (placeholder species H), forces only; CG
  MD with ASE's Langevin through `EquipotCalculator`.

Both MD runs: same temperature, friction and time step, from the last mapped frame. Prints
a table (test RMSEs; integral of |g_CG - g_AA| dr; mean |<P1>| and |<P2>| differences
weighted by the all-atom pair counts, for isotropic beads against zero correlation) and
writes it as JSON (``--table``) and the figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equipot import EquipotCalculator, EquivariantPotential
from equipot.data.atoms import graph_from_atoms
from equipot.data.batching import batch_graphs
from equipot.extensions.coarse_grain import bead_symbols, fit_force_matching
from equipot.extensions.coarse_grain_dynamics import OrientedBeadLangevin, pair_correlations
from equipot.extensions.coarse_grain_oriented import (
    OrientedBeadMapping,
    OrientedBeadPotential,
    force_torque_matching_loss,
    oriented_bead_derivatives,
    perpendicular,
)
from equipot.extensions.spin_lattice import LatticeEdges, lattice_edges

PBC = (True, True, True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[Path("runs/extensions/cg_methanol.npz")])
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--cutoff", type=float, default=6.0, help="Å, both models")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=300.0, help="training wall time per model")
    parser.add_argument("--degree", type=int, default=2, help="oriented model: degree in each orientation")
    parser.add_argument("--batch", type=int, default=8, help="frames per Adam step")
    parser.add_argument("--temperature", type=float, default=300.0)
    parser.add_argument("--dt", type=float, default=2.0, help="CG MD time step, fs")
    parser.add_argument("--friction", type=float, default=0.01, help="1/fs")
    parser.add_argument("--equilibration", type=int, default=1000, help="CG MD steps before sampling")
    parser.add_argument("--md-steps", type=int, default=10000, help="CG MD steps sampled (every 10th)")
    parser.add_argument("--rmax", type=float, default=6.0, help="Å, pair correlations")
    parser.add_argument("--bins", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", type=Path, default=Path("docs/figures/cg_methanol_pairs.png"))
    parser.add_argument("--table", type=Path, default=Path("runs/extensions/cg_methanol_results.json"))
    return parser.parse_args(argv)


def mapped_beads(paths: list[Path], test_fraction: float) -> dict[str, np.ndarray]:
    """Bead positions (wrapped), orientations, forces, torques [f, n, 3] of all trajectories,
    with ``train`` (bool [f]), cell, bead mass and mean moment of inertia."""
    parts: dict[str, list] = {k: [] for k in ("positions", "orientations", "forces", "torques", "inertia", "train")}
    for path in paths:
        data = np.load(path)
        size, numbers = int(data["atoms_per_molecule"]), data["numbers"]
        mapping = OrientedBeadMapping.molecules(len(numbers) // size, [list(range(size))],
                                                [int(np.flatnonzero(numbers[:size] == 8)[0])])
        masses, cell = data["masses"], data["cell"]
        n_frames = len(data["positions"])
        for k, (positions, forces) in enumerate(zip(data["positions"], data["forces"])):
            centres = mapping.positions(positions, masses, cell)
            parts["positions"].append(centres - np.floor(centres @ np.linalg.inv(cell)) @ cell)
            parts["orientations"].append(mapping.orientations(positions, masses, cell))
            parts["forces"].append(mapping.forces(forces))
            parts["torques"].append(mapping.torques(positions, forces, masses, cell))
            parts["inertia"].append(mapping.moments_of_inertia(positions, masses, cell))
            parts["train"].append(k < round((1 - test_fraction) * n_frames))
    beads = {k: np.stack(v) for k, v in parts.items()}
    beads["cell"], beads["bead_mass"] = cell, float(mapping.bead_masses(masses)[0])
    beads["inertia"] = float(beads["inertia"].mean())
    return beads


def oriented_batch(beads: dict, frames: np.ndarray, edges: list[LatticeEdges]) -> tuple:
    """Frames as one disjoint system: positions, orientations, edges, forces, torques."""
    n = beads["positions"].shape[1]
    tensors = [torch.from_numpy(beads[k][frames].reshape(-1, 3)) for k in ("positions", "orientations", "forces", "torques")]
    joined = LatticeEdges(torch.cat([edges[f].senders + i * n for i, f in enumerate(frames)]),
                          torch.cat([edges[f].receivers + i * n for i, f in enumerate(frames)]),
                          torch.cat([edges[f].offsets for f in frames]))
    return tensors[0], tensors[1], joined, tensors[2], tensors[3]


def train_oriented(beads: dict, args, rng) -> tuple[OrientedBeadPotential, dict]:
    cell = torch.from_numpy(beads["cell"])
    edges = [lattice_edges(torch.from_numpy(p), cell, PBC, args.cutoff) for p in beads["positions"]]
    distances = np.concatenate([e.vectors(torch.from_numpy(p)).norm(dim=-1).numpy() for e, p in zip(edges, beads["positions"])])
    torques_perp = perpendicular(torch.from_numpy(beads["torques"]), torch.from_numpy(beads["orientations"]))
    weight = float(beads["forces"].var() / torques_perp.var())
    torch.manual_seed(0)
    model = OrientedBeadPotential(cutoff=args.cutoff, degree=args.degree, hidden=32,
                                  energy_scale=float(beads["forces"].std()), repulsion_distance=0.9 * distances.min())
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, (1e-2) ** (1 / args.steps))
    train = np.flatnonzero(beads["train"])
    start, step = time.perf_counter(), 0
    while step < args.steps and time.perf_counter() - start < args.seconds:
        optimizer.zero_grad()
        batch = oriented_batch(beads, rng.choice(train, min(args.batch, len(train)), replace=False), edges)
        loss = force_torque_matching_loss(model, *batch, torque_weight=weight)
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        if step % 200 == 0:
            print(f"oriented step {step}  loss {float(loss.detach()):.4g}  ({time.perf_counter() - start:.0f} s)", flush=True)
    positions, orientations, joined, forces, torques = oriented_batch(beads, np.flatnonzero(~beads["train"]), edges)
    _, predicted_forces, predicted_torques = oriented_bead_derivatives(model, positions, orientations, joined)
    target = perpendicular(torques, orientations)
    return model, {
        "steps": step, "seconds": time.perf_counter() - start, "torque_weight_A^-2": weight,
        "repulsion_distance": float(model.repulsion_distance),
        "test_force_rmse": float((predicted_forces - forces).pow(2).mean().sqrt()), "test_force_std": float(forces.std()),
        "test_torque_rmse": float((predicted_torques - target).pow(2).mean().sqrt()), "test_torque_std": float(target.std()),
    }


def bead_atoms(beads: dict, frame: int) -> Atoms:
    atoms = Atoms(["H"] * beads["positions"].shape[1], positions=beads["positions"][frame], cell=beads["cell"], pbc=True)
    atoms.set_masses(np.full(len(atoms), beads["bead_mass"]))
    return atoms


def train_isotropic(beads: dict, args, rng) -> tuple[EquivariantPotential, dict]:
    graphs = [graph_from_atoms(bead_atoms(beads, k), args.cutoff) for k in range(len(beads["positions"]))]
    forces = torch.from_numpy(beads["forces"])
    torch.manual_seed(0)
    model = EquivariantPotential(species=bead_symbols(1), cutoff=args.cutoff, num_channels=8, lmax=1, num_layers=1,
                                 dtype=torch.float64)
    train, test = np.flatnonzero(beads["train"]), np.flatnonzero(~beads["train"])
    start = time.perf_counter()
    step = fit_force_matching(model, graphs, forces, train, args.steps, args.seconds, min(args.batch, len(train)), rng,
                              log_every=200, label="isotropic ")
    predicted = model(batch_graphs([graphs[k] for k in test]), outputs={"forces"}).forces.detach()
    reference = forces[test].reshape(-1, 3)
    return model, {"steps": step, "seconds": time.perf_counter() - start,
                   "test_force_rmse": float((predicted - reference).pow(2).mean().sqrt()),
                   "test_force_std": float(reference.std())}


def run_oriented(model, beads: dict, args) -> dict[str, np.ndarray]:
    n = beads["positions"].shape[1]
    dynamics = OrientedBeadLangevin(
        model, torch.from_numpy(beads["positions"][-1]), torch.from_numpy(beads["orientations"][-1]),
        torch.full((n,), beads["bead_mass"], dtype=torch.float64), torch.full((n,), beads["inertia"], dtype=torch.float64),
        torch.from_numpy(beads["cell"]), args.cutoff, args.temperature, args.dt, args.friction, seed=1)
    dynamics.run(args.equilibration)
    frames: dict[str, list] = {"positions": [], "orientations": [], "temperatures": []}
    for _ in range(max(1, args.md_steps // 10)):
        dynamics.run(10)
        frames["positions"].append(dynamics.positions.numpy().copy())
        frames["orientations"].append(dynamics.orientations.numpy().copy())
        frames["temperatures"].append(dynamics.temperatures())
    return {k: np.stack(v) for k, v in frames.items()}


def run_isotropic(model, beads: dict, args) -> dict[str, np.ndarray]:
    atoms = bead_atoms(beads, -1)
    atoms.calc = EquipotCalculator(model)
    thermalize_momenta(atoms, temperature_K=args.temperature, rng=np.random.default_rng(1))
    dynamics = Langevin(atoms, args.dt * units.fs, temperature_K=args.temperature, friction=args.friction / units.fs,
                        fixcm=False, rng=np.random.default_rng(2))
    dynamics.run(args.equilibration)
    positions, temperatures = [], []
    for _ in range(max(1, args.md_steps // 10)):
        dynamics.run(10)
        positions.append(atoms.get_positions(wrap=True))
        temperatures.append(atoms.get_temperature())
    return {"positions": np.stack(positions), "temperatures": np.array(temperatures)}


def compare(reference: dict, other: dict, dr: float) -> dict[str, float]:
    """Integral of |g - g_ref| dr (Å), and <P1>, <P2> differences weighted by the reference
    pair counts (r^2 g_ref)."""
    result = {"rdf_integrated_abs_difference": float(np.abs(other["g"] - reference["g"]).sum() * dr)}
    for key in ("p1", "p2"):
        valid = np.isfinite(other[key]) & np.isfinite(reference[key])
        weights = (reference["g"] * reference["r"] ** 2)[valid]
        differences = np.abs(other[key] - reference[key])[valid]
        result[f"{key}_weighted_abs_difference"] = float((differences * weights).sum() / max(weights.sum(), 1e-300))
    return result


def plot(path: Path, curves: dict[str, dict], title: str) -> None:
    figure = Figure(figsize=(11, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    styles = {"all-atom GFN1-xTB, mapped": ("-", "k"), "CG oriented beads": ("o-", "C1"),
              "CG isotropic beads": ("s--", "C0")}
    for label, curve in curves.items():
        style, color = styles[label]
        for axis, key in zip(axes, ("g", "p1", "p2")):
            if key in curve:
                axis.plot(curve["r"], curve[key], style, ms=3, color=color, label=label)
    for axis, name in zip(axes, ("g(r), bead centres", "<u_i . u_j>(r)", "<P2(u_i . u_j)>(r)")):
        axis.set_xlabel("bead-bead distance (Å)")
        axis.set_title(name, fontsize=10)
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    beads = mapped_beads(args.data, args.test_fraction)
    results: dict = {"frames": int(len(beads["positions"])), "test_frames": int((~beads["train"]).sum()),
                     "beads": int(beads["positions"].shape[1]), "box_A": float(beads["cell"][0, 0]),
                     "bead_mass_amu": beads["bead_mass"], "inertia_amu_A2": beads["inertia"]}
    oriented, results["oriented"] = train_oriented(beads, args, rng)
    isotropic, results["isotropic"] = train_isotropic(beads, args, rng)
    start = time.perf_counter()
    cg_oriented = run_oriented(oriented, beads, args)
    results["oriented"]["md_seconds"] = time.perf_counter() - start
    results["oriented"]["md_temperatures_K"] = [float(t) for t in cg_oriented["temperatures"].mean(0)]
    start = time.perf_counter()
    cg_isotropic = run_isotropic(isotropic, beads, args)
    results["isotropic"]["md_seconds"] = time.perf_counter() - start
    results["isotropic"]["md_temperature_K"] = float(cg_isotropic["temperatures"].mean())
    cell, dr = beads["cell"], args.rmax / args.bins
    curves = {"all-atom GFN1-xTB, mapped": pair_correlations(beads["positions"], beads["orientations"], cell, args.rmax, args.bins),
              "CG oriented beads": pair_correlations(cg_oriented["positions"], cg_oriented["orientations"], cell,
                                                     args.rmax, args.bins)}
    isotropic_curve = pair_correlations(cg_isotropic["positions"], np.zeros_like(cg_isotropic["positions"]), cell,
                                        args.rmax, args.bins)
    curves["CG isotropic beads"] = {"r": isotropic_curve["r"], "g": isotropic_curve["g"]}
    reference = curves["all-atom GFN1-xTB, mapped"]
    results["oriented"].update(compare(reference, curves["CG oriented beads"], dr))
    # isotropic beads carry no orientation: their orientational correlations are zero at every distance
    uncorrelated = {"r": isotropic_curve["r"], "g": isotropic_curve["g"], "p1": np.zeros(args.bins), "p2": np.zeros(args.bins)}
    results["isotropic"].update(compare(reference, uncorrelated, dr))
    results["curves"] = {label: {k: [float(x) for x in v] for k, v in c.items()} for label, c in curves.items()}
    print(json.dumps({k: v for k, v in results.items() if k != "curves"}, indent=2))
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plot(args.figure, curves, f"Methanol, {results['beads']} molecules, {args.temperature:.0f} K: CG MD vs mapped all-atom MD")
    return results


if __name__ == "__main__":
    main()
