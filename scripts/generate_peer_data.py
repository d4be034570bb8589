"""Generate the held-out data of the equal-budget comparison with MACE and NequIP (issue 17).

Data the project never tuned on, each with an out-of-distribution hot set:

- ``molecule``: one small molecule from ASE's g2 collection (e.g. ``CH3CONH2`` acetamide,
  ``C5H5N`` pyridine), Langevin MD on the GFN2-xTB surface (tblite) at ``--temperature``;
  every stored frame is relabelled by a fresh, tight GFN2-xTB single point (the labelling
  of ``scripts/generate_ethanol_xtb.py``). Labels: energy [eV], forces [eV/Å], dipole [e·Å].
- ``alloy``: a random fcc Cu-Ni cell (``--size``³ conventional cells, ``--nickel`` fraction,
  ``--vacancies`` atoms removed, a by Vegard's law) with ASE's EMT, Langevin runs at
  temperatures spread over ``--temperature TMIN TMAX``; each stored frame is a randomly
  strained copy (Voigt components uniform in ±``--max-strain``) labelled with energy [eV],
  forces [eV/Å] and stress [eV/Å³, ASE sign and Voigt order].

Output: gzipped extxyz and a provenance JSON beside it (``scripts/provenance.py``). The
benchmark data (``benchmarks/peers/write_splits.py --generated DIR`` splits these files;
the real run wants the full sizes below: a GFN2-xTB force call on acetamide costs ~20 ms
for the MD and ~40 ms for a tight label, so ~7 min of one quiet core per molecule)::

    D=benchmarks/results/data/generated
    G="nice -n 19 python scripts/generate_peer_data.py"; export OMP_NUM_THREADS=1
    $G molecule --molecule CH3CONH2 --frames 1300 --temperature 500 --seed 0 --output $D/acetamide_500K.xyz.gz
    $G molecule --molecule CH3CONH2 --frames 150 --temperature 1000 --seed 1 --output $D/acetamide_1000K.xyz.gz
    $G molecule --molecule C5H5N --frames 1300 --temperature 500 --seed 0 --output $D/pyridine_500K.xyz.gz
    $G molecule --molecule C5H5N --frames 150 --temperature 1000 --seed 1 --output $D/pyridine_1000K.xyz.gz
    $G alloy --size 2 --runs 8 --equilibration 500 --frames 1300 --temperature 300 900 --seed 0 \\
        --output $D/cuni_300-900K.xyz.gz
    $G alloy --size 2 --runs 2 --equilibration 500 --frames 150 --temperature 1500 1500 --seed 1 \\
        --output $D/cuni_1500K.xyz.gz
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from provenance import write_dataset  # scripts/provenance.py

#: fcc lattice constants of EMT's elements used here [Å]; the alloy's follows Vegard's law
LATTICE_CONSTANTS = {"Cu": 3.61, "Ni": 3.52}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="system", required=True)
    mol = sub.add_parser("molecule", help="one g2 molecule, GFN2-xTB Langevin MD")
    mol.add_argument("--molecule", required=True, help="a name of ase.build.molecule, e.g. CH3CONH2")
    mol.add_argument("--temperature", type=float, default=500.0, help="Langevin temperature [K]")
    mol.add_argument("--timestep", type=float, default=0.5, help="MD time step [fs]")
    mol.add_argument("--equilibration", type=float, default=1000.0, help="equilibration time [fs]")
    mol.add_argument("--interval", type=int, default=10, help="MD steps between stored frames")
    mol.add_argument("--accuracy", type=float, default=0.01, help="tblite accuracy of the labels")
    alloy = sub.add_parser("alloy", help="random fcc Cu-Ni cell with vacancies, EMT Langevin MD + strain")
    alloy.add_argument("--temperature", type=float, nargs=2, default=[300.0, 900.0], metavar=("TMIN", "TMAX"))
    alloy.add_argument("--runs", type=int, default=6, help="independent MD runs (temperatures)")
    alloy.add_argument("--size", type=int, default=3, help="conventional cells per direction")
    alloy.add_argument("--nickel", type=float, default=0.5, help="fraction of Ni atoms")
    alloy.add_argument("--vacancies", type=int, default=2, help="atoms removed from the cell")
    alloy.add_argument("--max-strain", type=float, default=0.02, help="bound of each random Voigt strain")
    alloy.add_argument("--timestep", type=float, default=2.0, help="MD time step [fs]")
    alloy.add_argument("--equilibration", type=float, default=1000.0, help="equilibration per run [fs]")
    alloy.add_argument("--interval", type=int, default=10, help="MD steps between stored frames")
    for p in (mol, alloy):
        p.add_argument("--frames", type=int, required=True, help="number of frames to store")
        p.add_argument("--seed", type=int, default=0, help="seed of the numpy RNG")
        p.add_argument("--friction", type=float, default=0.01, help="Langevin friction [1/fs]")
        p.add_argument("--output", type=Path, required=True, help="output .xyz.gz path")
    args = parser.parse_args(argv)
    if not str(args.output).endswith(".xyz.gz"):
        parser.error(f"--output must end with .xyz.gz, got {args.output}")
    return args


def langevin(atoms: Atoms, temperature: float, args: argparse.Namespace, rng: np.random.Generator) -> Langevin:
    atoms.set_constraint(FixCom())
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)
    return Langevin(atoms, timestep=args.timestep * units.fs, temperature_K=temperature,
                    friction=args.friction / units.fs, fixcm=False, rng=rng)


def molecule_frames(args: argparse.Namespace, rng: np.random.Generator) -> tuple[list[Atoms], dict]:
    from generate_ethanol_xtb import METHOD, labelled_frame  # scripts/: the same fresh, tight labels
    from tblite.ase import TBLite

    atoms = molecule(args.molecule)
    atoms.calc = TBLite(method=METHOD, verbosity=0)
    dyn = langevin(atoms, args.temperature, args, rng)
    start = time.perf_counter()
    dyn.run(int(round(args.equilibration / args.timestep)))
    frames = []
    for i in range(args.frames):
        dyn.run(args.interval)
        frames.append(labelled_frame(atoms, args.accuracy))
        if (i + 1) % 100 == 0 or i + 1 == args.frames:
            print(f"frame {i + 1}/{args.frames} T_inst={atoms.get_temperature():.0f} K "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    provenance = {
        "system": f"{args.molecule} ({atoms.get_chemical_formula()}, {len(atoms)} atoms), non-periodic, "
                  f"ase.build.molecule start",
        "method": f"{METHOD} (tblite); MD at tblite's default accuracy, labels by a fresh single point "
                  f"at accuracy {args.accuracy}",
        "labels": {"energy": "eV", "forces": "eV/Å [n_atoms, 3]", "dipole": "e·Å [3]"},
        "temperature_K": args.temperature,
    }
    return frames, provenance


def alloy_cell(args: argparse.Namespace, rng: np.random.Generator) -> Atoms:
    a = (1 - args.nickel) * LATTICE_CONSTANTS["Cu"] + args.nickel * LATTICE_CONSTANTS["Ni"]
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(args.size)
    n_ni = int(round(args.nickel * len(atoms)))
    symbols = np.array(["Cu"] * len(atoms))
    symbols[rng.choice(len(atoms), n_ni, replace=False)] = "Ni"
    atoms.set_chemical_symbols(symbols.tolist())
    del atoms[rng.choice(len(atoms), args.vacancies, replace=False).tolist()]
    return atoms


def strained_copy(atoms: Atoms, rng: np.random.Generator, max_strain: float) -> Atoms:
    from ase.calculators.singlepoint import SinglePointCalculator

    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    xx, yy, zz, yz, xz, xy = rng.uniform(-max_strain, max_strain, size=6)
    frame.set_cell(frame.cell.array @ (np.eye(3) + np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])),
                   scale_atoms=True)
    calc = EMT()
    calc.calculate(frame, properties=["energy", "forces", "stress"])
    frame.calc = SinglePointCalculator(frame, energy=float(calc.results["energy"]),
                                       forces=np.array(calc.results["forces"]),
                                       stress=np.array(calc.results["stress"]))
    return frame


def alloy_frames(args: argparse.Namespace, rng: np.random.Generator) -> tuple[list[Atoms], dict]:
    temperatures = np.linspace(*args.temperature, args.runs).tolist()
    counts = [len(part) for part in np.array_split(np.arange(args.frames), args.runs)]
    frames: list[Atoms] = []
    start = time.perf_counter()
    for temperature, count in zip(temperatures, counts):
        atoms = alloy_cell(args, rng)  # a new random arrangement per run
        atoms.calc = EMT()
        dyn = langevin(atoms, temperature, args, rng)
        dyn.run(int(round(args.equilibration / args.timestep)))
        for _ in range(count):
            dyn.run(args.interval)
            frames.append(strained_copy(atoms, rng, args.max_strain))
        print(f"T={temperature:.0f} K: {count} frames ({len(frames)}/{args.frames}) "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    provenance = {
        "system": f"random fcc Cu{1 - args.nickel:g}Ni{args.nickel:g}, {args.size}^3 conventional cells "
                  f"minus {args.vacancies} vacancies ({len(frames[0])} atoms), periodic, Vegard a; "
                  f"a new random arrangement per run",
        "method": "ase.calculators.emt.EMT",
        "strain": f"each stored frame a strained copy, Voigt components uniform in ±{args.max_strain}",
        "labels": {"energy": "eV", "forces": "eV/Å [n_atoms, 3]", "stress": "eV/Å³ [6], ASE Voigt order"},
        "temperatures_K": temperatures,
        "frames_per_temperature": counts,
    }
    return frames, provenance


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    make = molecule_frames if args.system == "molecule" else alloy_frames
    frames, provenance = make(args, rng)
    energies = np.array([frame.get_potential_energy() for frame in frames])
    provenance = {
        "generator": "scripts/generate_peer_data.py",
        "command": "OMP_NUM_THREADS=1 python " + shlex.join(["scripts/generate_peer_data.py", *sys.argv[1:]]),
        **provenance,
        "dynamics": "ase.md.langevin.Langevin(fixcm=False) with ase.constraints.FixCom",
        "seed": args.seed,
        "timestep_fs": args.timestep,
        "friction_per_fs": args.friction,
        "equilibration_fs": args.equilibration,
        "interval_steps": args.interval,
        "energy_range_eV": [float(energies.min()), float(energies.max())],
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    packages = ("ase", "tblite", "numpy") if args.system == "molecule" else ("ase", "numpy")
    write_dataset(frames, args.output, provenance, packages=packages)


if __name__ == "__main__":
    main()
