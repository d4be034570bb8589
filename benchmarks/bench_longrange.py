"""Cost of the long-range term (issue 18).

1. ``CoulombEnergy`` (PME through torch-pme, parameters from its error bounds for
   ``--accuracy``, real-space cutoff 8 Å) on rocksalt NaCl supercells of 1 000 to 100 000
   atoms: energy + forces (one backward pass), time per atom. The parameter choice
   (`pme_parameters`, kept per cell and atom count after the first call) and the real-space
   neighbour list (a half list from vesin) are inside the timing, as in a model call. Wall
   and CPU time (`time.process_time`) per call; the peak resident memory of the process.
2. Where the cost of a call that does not depend on the size goes (64 atoms): neighbour
   list, real and reciprocal part with a backward pass, building torch-pme's calculator
   (``--fixed-cost-only`` runs only this).
3. Inference overhead of the hybrid over the local model at about 1 000 atoms: an
   `EquivariantPotential` and the `LongRangePotential` built from the same config plus
   ``long_range`` (neutral charges; ``method: auto`` is PME at this size), energy + forces,
   untrained, and one training step (energy, forces and stress loss, backward to the weights);
   medians of the wall and CPU time.

Medians over ``--repeats`` samples after one warm-up call (the sizes take turns; a sample
of a small size averages calls over about 10^5 atoms), one thread by default::

    python benchmarks/bench_longrange.py --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
import torchpme
from ase.build import bulk

from equipot.config import ModelConfig
from equipot.data import graph_from_atoms
from equipot.longrange import CoulombEnergy, build_potential, pme_parameters
from equipot.longrange import _calculators as calculators


#: each timed sample of `coulomb_per_atom` repeats the call for about this many atoms in all
ATOMS_PER_SAMPLE = 100_000


def median_seconds(call, repeats: int) -> tuple[float, float]:
    """Medians of the wall and the CPU time (s) of ``call`` over ``repeats`` calls after one warm-up."""
    call()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def coulomb_per_atom(repeats: int, accuracy: float, sizes: list[int]) -> None:
    """PME energy + forces per atom; every size is warmed up once, then the sizes take turns
    ``repeats`` times (so a change in the machine's load hits all of them alike), each turn
    ``ATOMS_PER_SAMPLE / n_atoms`` calls (at least one) averaged; medians over the turns of
    the wall time and of the process's CPU time (on a shared, oversubscribed machine the CPU
    time is the better measure of the work)."""
    print(f"PME energy + forces, accuracy {accuracy} e/Å, real-space cutoff 8 Å, float32")
    coulomb = CoulombEnergy(method="pme", accuracy=accuracy, real_space_cutoff=8.0)
    cases = {}
    for n in sizes:
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (n, n, n)
        atoms.rattle(0.05, seed=n)
        positions = torch.tensor(atoms.positions, dtype=torch.float32)
        cell = torch.tensor(atoms.cell.array, dtype=torch.float32)[None]
        charges = torch.where(torch.tensor(atoms.numbers) == 11, 1.0, -1.0).to(torch.float32)
        pbc = torch.ones(1, 3, dtype=torch.bool)
        batch = torch.zeros(len(atoms), dtype=torch.long)

        def call(positions=positions, cell=cell, charges=charges, pbc=pbc, batch=batch) -> None:
            x = positions.clone().requires_grad_(True)
            energies, _ = coulomb(charges, x, cell, pbc, batch)
            torch.autograd.grad(energies.sum(), x)

        parameters = pme_parameters(cell[0], positions, 8.0, accuracy)
        points = int(calculators.smooth_mesh_size(cell[0], parameters.mesh_spacing).prod())
        pairs = len(calculators._half_pairs(positions, cell[0], 8.0)[1])
        call()  # warm-up
        cases[n] = {"atoms": len(atoms), "call": call, "parameters": parameters, "points": points, "pairs": pairs, "times": [], "cpu": []}
    for _ in range(repeats):
        for case in cases.values():
            # one sample is enough calls for about 10^5 atoms, so the small sizes are not
            # timed on calls of a few ms each (the scheduler's noise on a loaded machine)
            calls = max(1, round(ATOMS_PER_SAMPLE / case["atoms"]))
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                case["call"]()
            case["times"].append((time.perf_counter() - started) / calls)
            case["cpu"].append((time.process_time() - cpu) / calls)
    print("| atoms | smearing (Å) | mesh spacing (Å) | interpolation nodes | mesh points per atom | pairs per atom | wall time (s) | CPU time (s) | CPU µs/atom |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for case in cases.values():
        seconds, cpu = statistics.median(case["times"]), statistics.median(case["cpu"])
        p = case["parameters"]
        print(
            f"| {case['atoms']} | {p.smearing:.3f} | {p.mesh_spacing:.3f} | {p.interpolation_nodes} | "
            f"{case['points'] / case['atoms']:.1f} | {case['pairs'] / case['atoms']:.1f} | {seconds:.3f} | {cpu:.3f} | "
            f"{1e6 * cpu / case['atoms']:.1f} |"
        )
    per_atom = [statistics.median(c["cpu"]) / c["atoms"] for c in cases.values()]
    print(f"CPU µs/atom from {1e6 * min(per_atom):.1f} to {1e6 * max(per_atom):.1f} (max/min {max(per_atom) / min(per_atom):.2f})")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


def fixed_cost(repeats: int, accuracy: float, calls: int = 50) -> None:
    """Where the CPU time of a PME call on a small cell goes (64 atoms: almost all of it is
    the cost per call that does not depend on the size): the neighbour list, the real and
    the reciprocal part each with a backward pass, building torch-pme's calculator, and the
    whole call; medians over ``repeats`` turns of ``calls`` calls each."""
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=2)
    positions = torch.tensor(atoms.positions, dtype=torch.float32)
    cell = torch.tensor(atoms.cell.array, dtype=torch.float32)
    charges = torch.where(torch.tensor(atoms.numbers) == 11, 1.0, -1.0).to(torch.float32)[:, None]
    parameters = pme_parameters(cell, positions, 8.0, accuracy)
    coulomb = CoulombEnergy(method="pme", accuracy=accuracy)

    def build() -> torch.nn.Module:
        potential = torchpme.CoulombPotential(smearing=parameters.smearing)
        return calculators._SmoothMeshPME(
            potential, mesh_spacing=parameters.mesh_spacing, interpolation_nodes=parameters.interpolation_nodes
        ).to(dtype=torch.float32)

    calculator = build()

    def with_backward(part: str) -> None:
        x = positions.clone().requires_grad_(True)
        if part == "real":
            pairs, distances = calculators._half_pairs(x, cell, 8.0)
            phi = calculator._compute_rspace(charges, pairs, distances)
        elif part == "reciprocal":
            phi = calculator._compute_kspace(charges, cell, x)
        else:
            energies, _ = coulomb(
                charges[:, 0], x, cell[None], torch.ones(1, 3, dtype=torch.bool), torch.zeros(len(x), dtype=torch.long)
            )
            phi = energies[:, None]
        torch.autograd.grad((charges * phi).sum(), x)

    parts = {
        "neighbour list (vesin, half list)": lambda: calculators._half_pairs(positions, cell, 8.0),
        "real part with its neighbour list, forward + backward": lambda: with_backward("real"),
        "reciprocal part, forward + backward": lambda: with_backward("reciprocal"),
        "building torch-pme's calculator": build,
        "whole call (CoulombEnergy, energy + forces)": lambda: with_backward("whole"),
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeats):
        for name, part in parts.items():
            started = time.process_time()
            for _ in range(calls):
                part()
            times[name].append((time.process_time() - started) / calls)
    print(f"\nfixed cost of a PME call: {len(atoms)} atoms, mesh {calculators.smooth_mesh_size(cell, parameters.mesh_spacing).tolist()}, CPU ms per call")
    print("| part | CPU ms |")
    print("| --- | --- |")
    for name in parts:
        print(f"| {name} | {1e3 * statistics.median(times[name]):.2f} |")


def hybrid_overhead(repeats: int, channels: int) -> None:
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (5, 5, 5)  # 1 000 atoms
    atoms.rattle(0.05, seed=0)
    common = {"species": ["Na", "Cl"], "cutoff": 5.0, "num_channels": channels}
    local = build_potential(ModelConfig(**common)).eval()
    hybrid = build_potential(ModelConfig(**common, long_range={"charges": "neutral", "accuracy": 1e-4})).eval()
    graph = graph_from_atoms(atoms, 5.0, dtype=torch.float32)
    rows = []
    for name, model in (("local", local), ("hybrid", hybrid)):
        inference = median_seconds(lambda m=model: m(graph, outputs={"energy", "forces"}, create_graph=False), repeats)
        model.train()

        def step(m=model) -> None:
            out = m(graph, outputs={"energy", "forces", "stress"}, create_graph=True)
            loss = out.energy.square().sum() + out.forces.square().mean() + out.stress.square().mean()
            loss.backward()
            m.zero_grad()

        training = median_seconds(step, repeats)
        model.eval()
        rows.append((name, inference, training))
    print(f"\n{len(atoms)} atoms, {channels} channels, float32, cutoff 5 Å; wall / CPU time (s)")
    print("| model | inference, energy + forces | training step, E+F+S loss and backward |")
    print("| --- | --- | --- |")
    for name, inference, training in rows:
        print(f"| {name} | {inference[0]:.3f} / {inference[1]:.3f} | {training[0]:.3f} / {training[1]:.3f} |")
    (_, local_inference, local_training), (_, hybrid_inference, hybrid_training) = rows
    print(
        f"| hybrid / local | {hybrid_inference[0] / local_inference[0]:.2f}x / {hybrid_inference[1] / local_inference[1]:.2f}x | "
        f"{hybrid_training[0] / local_training[0]:.2f}x / {hybrid_training[1] / local_training[1]:.2f}x |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--accuracy", type=float, default=1e-4)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 7, 11, 16, 23], help="supercell repeats n (8 n³ atoms)")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--fixed-cost-only", action="store_true", help="only the breakdown of a 64-atom call")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.fixed_cost_only:
        fixed_cost(args.repeats, args.accuracy)
        return 0
    coulomb_per_atom(args.repeats, args.accuracy, args.sizes)
    fixed_cost(args.repeats, args.accuracy)
    if not args.skip_overhead:
        hybrid_overhead(args.repeats, args.channels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
