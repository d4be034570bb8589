"""All-atom reference for the coarse-graining example: Langevin MD of a liquid of 64
diatomic molecules (`DiatomicFluidCalculator`: harmonic bonds, Lennard-Jones between
molecules), frames mapped to one bead per molecule (centre of mass, summed forces).

    python scripts/generate_cg_fluid.py --output runs/extensions/cg_fluid.npz

Writes an .npz with atom_positions [f, 128, 3], atom_forces, bead_positions [f, 64, 3],
bead_forces [f, 64, 3] (Å, eV/Å), cell [3, 3], bead_masses [64], and a provenance JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from equipot.extensions.coarse_grain import BeadMapping, DiatomicFluidCalculator, diatomic_fluid
from provenance import git_commit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--interval", type=int, default=20, help="MD steps between frames")
    parser.add_argument("--equilibration", type=int, default=2000, help="MD steps")
    parser.add_argument("--temperature", type=float, default=150.0, help="K")
    parser.add_argument("--density", type=float, default=0.02, help="molecules per Å^3")
    parser.add_argument("--per-side", type=int, default=4, help="molecules per side of the starting lattice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs/extensions/cg_fluid.npz"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    atoms = diatomic_fluid(args.per_side, args.density, seed=args.seed)
    atoms.calc = DiatomicFluidCalculator()
    thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(args.seed))
    dynamics = Langevin(atoms, 1.0 * units.fs, temperature_K=args.temperature, friction=0.02, fixcm=False,
                        rng=np.random.default_rng(args.seed + 1))
    dynamics.run(args.equilibration)
    mapping = BeadMapping.molecules(len(atoms) // 2, [[0, 1]])
    frames: dict[str, list[np.ndarray]] = {k: [] for k in ("atom_positions", "atom_forces", "bead_positions", "bead_forces")}
    for _ in range(args.frames):
        dynamics.run(args.interval)
        forces = atoms.get_forces()
        frames["atom_positions"].append(atoms.get_positions())
        frames["atom_forces"].append(forces)
        frames["bead_positions"].append(mapping.bead_atoms(atoms).get_positions())
        frames["bead_forces"].append(mapping.forces(forces))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **{k: np.stack(v) for k, v in frames.items()}, cell=np.asarray(atoms.cell),
                        bead_masses=mapping.bead_masses(atoms.get_masses()))
    calculator = atoms.calc
    record = {
        "dataset": args.output.name,
        "generator": "scripts/generate_cg_fluid.py",
        "command": " ".join(["python", "scripts/generate_cg_fluid.py", *(sys.argv[1:] if argv is None else argv)]),
        "units": {"positions": "Å", "forces": "eV/Å", "masses": "amu"},
        "reference": {"class": "equipot.extensions.coarse_grain.DiatomicFluidCalculator",
                      **{k: getattr(calculator, k) for k in ("epsilon", "sigma", "cutoff", "bond_length", "bond_constant")}},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "git_commit": git_commit(),
    }
    json_path = args.output.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({args.frames} frames, final temperature {atoms.get_temperature():.0f} K) and {json_path}")
    return args.output


if __name__ == "__main__":
    main()
