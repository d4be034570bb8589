"""Generate the shipped fcc Cu EMT dataset: Langevin MD at 300-1200 K plus random strain.

A 3x3x3 conventional fcc Cu supercell (108 atoms, a = 3.61 Å, periodic) is run with
ASE's EMT in ``--runs`` independent Langevin trajectories at temperatures evenly spread
over ``--temperature TMIN TMAX``. Each run is equilibrated, then a frame is taken every
``--interval`` steps. Every stored frame is a *copy* of the MD snapshot with a random
symmetric strain applied (six Voigt components drawn uniformly from
[-max_strain, max_strain], ``set_cell(cell @ (I + eps), scale_atoms=True)``) and is
labelled by a fresh EMT call; the strained copy never feeds back into the MD. Labels, in
ASE units:

- ``energy``  [eV]
- ``forces``  [n_atoms, 3] eV/Å
- ``stress``  [6] eV/Å³, ASE sign and Voigt order (xx, yy, zz, yz, xz, xy)

Output: gzipped extxyz by ``ase.io.write`` and a provenance JSON next to it. Regenerate
the shipped file with::

    OMP_NUM_THREADS=1 python scripts/generate_cu_emt.py \
        --frames 700 --temperature 300 1200 --seed 0 \
        --output src/equipot/datasets/cu_emt.xyz.gz
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from provenance import write_dataset  # scripts/provenance.py

LATTICE_CONSTANT = 3.61  # Å


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=700, help="number of frames to store")
    parser.add_argument("--temperature", type=float, nargs=2, default=[300.0, 1200.0],
                        metavar=("TMIN", "TMAX"), help="temperature range of the runs [K]")
    parser.add_argument("--runs", type=int, default=14, help="independent MD runs (temperatures)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the numpy RNG")
    parser.add_argument("--output", type=Path, required=True, help="output .xyz.gz path")
    parser.add_argument("--timestep", type=float, default=2.0, help="MD time step [fs]")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction [1/fs]")
    parser.add_argument("--equilibration", type=float, default=1000.0,
                        help="equilibration time per run [fs]")
    parser.add_argument("--interval", type=int, default=20, help="MD steps between stored frames")
    parser.add_argument("--max-strain", type=float, default=0.03,
                        help="bound of each random Voigt strain component")
    parser.add_argument("--size", type=int, default=3, help="conventional cells per direction")
    return parser.parse_args(argv)


def random_symmetric_strain(rng: np.random.Generator, max_strain: float) -> np.ndarray:
    """Symmetric 3x3 strain with six independent components uniform in [-max, max]."""
    xx, yy, zz, yz, xz, xy = rng.uniform(-max_strain, max_strain, size=6)
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def strained_frame(atoms: Atoms, rng: np.random.Generator, max_strain: float) -> Atoms:
    """A bare, strained copy of the MD snapshot labelled with energy, forces and stress."""
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    eps = random_symmetric_strain(rng, max_strain)
    frame.set_cell(frame.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    calc = EMT()
    calc.calculate(frame, properties=["energy", "forces", "stress"])
    frame.calc = SinglePointCalculator(
        frame,
        energy=float(calc.results["energy"]),
        forces=np.array(calc.results["forces"]),
        stress=np.array(calc.results["stress"]),
    )
    return frame


def frames_per_run(n_frames: int, n_runs: int) -> list[int]:
    base, extra = divmod(n_frames, n_runs)
    return [base + (1 if i < extra else 0) for i in range(n_runs)]


def run_md(args: argparse.Namespace) -> tuple[list[Atoms], list[float]]:
    rng = np.random.default_rng(args.seed)
    temperatures = np.linspace(*args.temperature, args.runs).tolist()
    n_equil = int(round(args.equilibration / args.timestep))
    frames: list[Atoms] = []
    start = time.perf_counter()
    for temperature, n_run in zip(temperatures, frames_per_run(args.frames, args.runs)):
        atoms = bulk("Cu", "fcc", a=LATTICE_CONSTANT, cubic=True).repeat(args.size)
        atoms.calc = EMT()
        atoms.set_constraint(FixCom())
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        dyn = Langevin(atoms, timestep=args.timestep * units.fs, temperature_K=temperature,
                       friction=args.friction / units.fs, fixcm=False, rng=rng)
        dyn.run(n_equil)
        for _ in range(n_run):
            dyn.run(args.interval)
            frames.append(strained_frame(atoms, rng, args.max_strain))
        print(f"T={temperature:6.1f} K: {n_run} frames, total {len(frames)}/{args.frames}, "
              f"T_inst={atoms.get_temperature():.0f} K, {time.perf_counter() - start:.1f} s",
              flush=True)
    return frames, temperatures


def write_outputs(frames: list[Atoms], temperatures: list[float], args: argparse.Namespace,
                  wall_s: float) -> None:
    energies = np.array([f.get_potential_energy() for f in frames])
    provenance = {
        "generator": "scripts/generate_cu_emt.py",
        "command": "OMP_NUM_THREADS=1 python "
        + shlex.join(["scripts/generate_cu_emt.py", *sys.argv[1:]]),
        "system": f"fcc Cu, {args.size}x{args.size}x{args.size} conventional supercell "
                  f"({len(frames[0])} atoms), a = {LATTICE_CONSTANT} Å, periodic",
        "method": "ase.calculators.emt.EMT",
        "dynamics": "ase.md.langevin.Langevin(fixcm=False) with ase.constraints.FixCom, "
                    "one independent run per temperature, NVT at the unstrained cell",
        "strain": f"each stored frame: random symmetric strain, 6 Voigt components uniform in "
                  f"[-{args.max_strain}, {args.max_strain}], scale_atoms=True, relabelled with EMT",
        "seed": args.seed,
        "temperatures_K": temperatures,
        "frames_per_temperature": frames_per_run(args.frames, args.runs),
        "timestep_fs": args.timestep,
        "friction_per_fs": args.friction,
        "equilibration_fs": args.equilibration,
        "interval_steps": args.interval,
        "labels": {"energy": "eV (per frame)", "forces": "eV/Å [n_atoms, 3]",
                   "stress": "eV/Å³ [6], ASE sign, Voigt xx yy zz yz xz xy"},
        "energy_range_eV": [float(energies.min()), float(energies.max())],
        "wall_time_s": round(wall_s, 1),
    }
    write_dataset(frames, args.output, provenance, packages=("ase", "numpy"))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not str(args.output).endswith(".xyz.gz"):
        raise SystemExit(f"--output must end with .xyz.gz, got {args.output}")
    start = time.perf_counter()
    frames, temperatures = run_md(args)
    write_outputs(frames, temperatures, args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
