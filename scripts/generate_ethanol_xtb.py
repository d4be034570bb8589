"""Generate the shipped ethanol GFN2-xTB dataset by Langevin molecular dynamics.

One ethanol molecule (C2H5OH, 9 atoms, no cell, no PBC) is thermalised with ASE's
Langevin integrator on the GFN2-xTB surface (tblite's ASE calculator), then one frame
is stored every ``--interval`` steps. Labels per frame, in ASE units:

- ``energy``  total GFN2-xTB energy [eV]
- ``forces``  [n_atoms, 3] eV/Å
- ``dipole``  [3] e·Å (tblite converts its atomic-unit dipole with ``* Bohr``; its
  docstring says Debye, but the value is e·Å: ethanol gives ~0.37 e·Å = 1.77 D)

The MD runs with tblite's default SCF accuracy (each step restarts from the previous
wavefunction); every stored frame is then relabelled by a fresh calculator (no restart)
with ``--accuracy`` (default 0.01, i.e. 100x tighter SCF thresholds than tblite's default).
With tblite's default accuracy the forces depend on the SCF starting guess at the
~1e-4 eV/Å level; the fresh, tight single point makes each label reproducible from its
positions alone.

The output is gzipped extxyz written by ``ase.io.write``; a provenance JSON file is
written next to it (``<name>.json``). Regenerate the shipped files with::

    OMP_NUM_THREADS=1 python scripts/generate_ethanol_xtb.py \
        --frames 1500 --temperature 500 --seed 0 \
        --output src/equipot/datasets/ethanol_gfn2xtb.xyz.gz
    OMP_NUM_THREADS=1 python scripts/generate_ethanol_xtb.py \
        --frames 200 --temperature 1000 --seed 1 \
        --output src/equipot/datasets/ethanol_gfn2xtb_1000K.xyz.gz
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.constraints import FixCom
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from tblite.ase import TBLite
from provenance import write_dataset  # scripts/provenance.py

METHOD = "GFN2-xTB"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1500, help="number of frames to store")
    parser.add_argument("--temperature", type=float, default=500.0, help="Langevin temperature [K]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the numpy RNG")
    parser.add_argument("--output", type=Path, help="output .xyz.gz path")
    parser.add_argument("--isolated-atoms", action="store_true",
                        help="print the GFN2-xTB energies of single H, C and O atoms (the data's E0) and exit")
    parser.add_argument("--timestep", type=float, default=0.5, help="MD time step [fs]")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction [1/fs]")
    parser.add_argument("--equilibration", type=float, default=1000.0,
                        help="equilibration time [fs]")
    parser.add_argument("--interval", type=int, default=20, help="MD steps between stored frames")
    parser.add_argument("--accuracy", type=float, default=0.01,
                        help="tblite accuracy of the labelling single points (tblite default 1.0)")
    parser.add_argument("--print-every", type=int, default=100, help="progress line every N frames")
    return parser.parse_args(argv)


def labelled_frame(atoms: Atoms, accuracy: float) -> Atoms:
    """A bare copy of ``atoms`` (no momenta, no constraint) labelled by a fresh GFN2-xTB
    single point: energy [eV], forces [eV/Å], dipole [e·Å].

    A new calculator per frame, so the SCF starts from tblite's default guess, not from
    the previous MD step; the forces are the raw ones, not FixCom-projected.
    """
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    calc = TBLite(method=METHOD, accuracy=accuracy, verbosity=0)
    calc.calculate(frame, properties=["energy", "forces", "dipole"])
    frame.calc = SinglePointCalculator(
        frame,
        energy=float(calc.results["energy"]),
        forces=np.array(calc.results["forces"]),
        dipole=np.array(calc.results["dipole"]),
    )
    return frame


def isolated_atom_energies(accuracy: float) -> dict[str, float]:
    """GFN2-xTB energy [eV] of one H, C and O atom in vacuum, with the labelling settings
    (`equipot.data.shipped.GFN2_XTB_ISOLATED_ATOM_ENERGIES` holds these numbers)."""
    energies = {}
    for symbol in ("H", "C", "O"):
        atom = Atoms(symbol)
        atom.calc = TBLite(method=METHOD, accuracy=accuracy, verbosity=0)
        energies[symbol] = float(atom.get_potential_energy())
    return energies


def run_md(args: argparse.Namespace) -> list[Atoms]:
    rng = np.random.default_rng(args.seed)
    atoms = molecule("CH3CH2OH")
    atoms.calc = TBLite(method=METHOD, verbosity=0)
    atoms.set_constraint(FixCom())  # ASE >= 3.28: FixCom instead of Langevin(fixcm=True)
    thermalize_momenta(atoms, temperature_K=args.temperature, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = Langevin(
        atoms,
        timestep=args.timestep * units.fs,
        temperature_K=args.temperature,
        friction=args.friction / units.fs,
        fixcm=False,
        rng=rng,
    )
    n_equil = int(round(args.equilibration / args.timestep))
    start = time.perf_counter()
    dyn.run(n_equil)
    print(f"equilibrated {n_equil} steps at {args.temperature:g} K "
          f"({time.perf_counter() - start:.1f} s)", flush=True)
    frames: list[Atoms] = []
    for i in range(args.frames):
        dyn.run(args.interval)
        frames.append(labelled_frame(atoms, args.accuracy))
        if (i + 1) % args.print_every == 0 or i + 1 == args.frames:
            t_kin = atoms.get_temperature()
            print(f"frame {i + 1}/{args.frames}  E={frames[-1].get_potential_energy():.4f} eV  "
                  f"T_inst={t_kin:.0f} K  {time.perf_counter() - start:.1f} s", flush=True)
    return frames


def write_outputs(frames: list[Atoms], args: argparse.Namespace, wall_s: float) -> None:
    energies = np.array([f.get_potential_energy() for f in frames])
    provenance = {
        "generator": "scripts/generate_ethanol_xtb.py",
        "command": "OMP_NUM_THREADS=1 python "
        + shlex.join(["scripts/generate_ethanol_xtb.py", *sys.argv[1:]]),
        "system": "ethanol C2H5OH, 9 atoms, non-periodic (ase.build.molecule('CH3CH2OH') start)",
        "method": f"{METHOD} (tblite ASE calculator, default electronic temperature)",
        "md_accuracy": 1.0,
        "label_accuracy": args.accuracy,
        "labelling": "fresh TBLite single point per stored frame (no SCF restart)",
        "dynamics": "ase.md.langevin.Langevin(fixcm=False) with ase.constraints.FixCom",
        "seed": args.seed,
        "temperature_K": args.temperature,
        "timestep_fs": args.timestep,
        "friction_per_fs": args.friction,
        "equilibration_fs": args.equilibration,
        "interval_steps": args.interval,
        "labels": {"energy": "eV (per frame)", "forces": "eV/Å [n_atoms, 3]",
                   "dipole": "e·Å [3]"},
        "energy_range_eV": [float(energies.min()), float(energies.max())],
        "wall_time_s": round(wall_s, 1),
    }
    write_dataset(frames, args.output, provenance, packages=("ase", "tblite", "numpy"))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.isolated_atoms:
        print(json.dumps({symbol: round(energy, 6) for symbol, energy in isolated_atom_energies(args.accuracy).items()}))
        return
    if args.output is None or not str(args.output).endswith(".xyz.gz"):
        raise SystemExit(f"--output must end with .xyz.gz, got {args.output}")
    start = time.perf_counter()
    frames = run_md(args)
    write_outputs(frames, args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
