"""All-atom reference for the oriented coarse-grained example: liquid methanol (8 CH3OH,
periodic, 0.79 g/cm^3) run with GFN1-xTB (tblite) in NVT Langevin MD.

    OMP_NUM_THREADS=1 python scripts/generate_cg_methanol.py --output runs/extensions/cg_methanol.npz

GFN1-xTB, not GFN2: one periodic force call on 48 atoms costs 0.37 s with GFN1 and 3.0 s
with GFN2 (one core, measured when writing this script), and the CG example needs
thousands of them. The hydrogens carry the deuterium mass (2.014 amu) in the dynamics so a
1 fs step is stable; configurational averages do not depend on the masses. The stored
``masses`` are the ordinary (CH3OH) masses, used by the bead mapping (centres of mass).

``--start earlier.npz`` continues from the last frame of an earlier run (new velocities
from ``--seed``), so a long trajectory can be made in pieces.

Writes an .npz (rewritten every ``--save-every`` frames, so a run stopped by
``--max-seconds`` leaves a complete file) with ``positions`` [f, 48, 3] (Å, unwrapped as
the MD moved them), ``forces`` [f, 48, 3] (eV/Å), ``energy`` [f] (eV), ``numbers`` [48],
``masses`` [48] (amu), ``cell`` [3, 3], ``atoms_per_molecule``, and a provenance JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from tblite.ase import TBLite

from equipot.extensions.coarse_grain import molecular_liquid
from provenance import git_commit

DEUTERIUM_MASS = 2.014


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="GFN1-xTB", choices=("GFN1-xTB", "GFN2-xTB"))
    parser.add_argument("--per-side", type=int, default=2, help="molecules per side of the starting lattice")
    parser.add_argument("--density", type=float, default=0.79, help="g/cm^3")
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs")
    parser.add_argument("--equilibration", type=int, default=400, help="MD steps before the first frame")
    parser.add_argument("--interval", type=int, default=5, help="MD steps between frames")
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--max-seconds", type=float, default=float("inf"), help="stop after this wall time")
    parser.add_argument("--save-every", type=int, default=25, help="frames between rewrites of the output")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=Path, default=None,
                        help="continue from the last frame of an earlier output (.npz) instead of a new lattice")
    parser.add_argument("--output", type=Path, default=Path("runs/extensions/cg_methanol.npz"))
    return parser.parse_args(argv)


def save(path: Path, frames: dict[str, list], fixed: dict[str, np.ndarray], record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: np.stack(v) for k, v in frames.items()}, **fixed)
    record = {**record, "frames": len(frames["energy"])}
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    start = time.perf_counter()
    atoms = molecular_liquid(molecule("CH3OH"), args.per_side, args.density, seed=args.seed)
    if args.start is not None:  # same molecules and cell, positions of the earlier run's last frame
        earlier = np.load(args.start)
        atoms = Atoms(numbers=earlier["numbers"], positions=earlier["positions"][-1], cell=earlier["cell"], pbc=True)
    fixed = {"numbers": atoms.numbers.copy(), "masses": atoms.get_masses(), "cell": np.asarray(atoms.cell),
             "atoms_per_molecule": np.array(6)}
    masses = atoms.get_masses()
    masses[atoms.numbers == 1] = DEUTERIUM_MASS
    atoms.set_masses(masses)
    atoms.calc = TBLite(method=args.method, verbosity=0)
    rng = np.random.default_rng(args.seed)
    thermalize_momenta(atoms, args.temperature, rng=rng)
    Stationary(atoms)
    dynamics = Langevin(atoms, args.timestep * units.fs, temperature_K=args.temperature,
                        friction=args.friction / units.fs, fixcm=False, rng=rng)
    dynamics.run(args.equilibration)
    record = {
        "dataset": args.output.name,
        "generator": "scripts/generate_cg_methanol.py",
        "command": " ".join(["python", "scripts/generate_cg_methanol.py", *(sys.argv[1:] if argv is None else argv)]),
        "units": {"positions": "Å", "forces": "eV/Å", "energy": "eV", "masses": "amu", "time": "fs"},
        "reference": {"method": args.method, "code": f"tblite {version('tblite')}", "accuracy": 1.0},
        "dynamics": "ase.md.langevin.Langevin (fixcm=False), hydrogens at the deuterium mass",
        "system": f"{len(atoms) // 6} CH3OH, cubic box {atoms.cell[0, 0]:.3f} Å",
        "settings": {k: str(v) for k, v in vars(args).items()},
        "packages": {name: version(name) for name in ("ase", "numpy", "tblite")},
        "git_commit": git_commit(),
    }
    frames: dict[str, list] = {"positions": [], "forces": [], "energy": [], "temperature": []}
    while len(frames["energy"]) < args.frames and time.perf_counter() - start < args.max_seconds:
        dynamics.run(args.interval)
        frames["positions"].append(atoms.get_positions())
        frames["forces"].append(atoms.get_forces())
        frames["energy"].append(atoms.get_potential_energy())
        frames["temperature"].append(atoms.get_temperature())
        if len(frames["energy"]) % args.save_every == 0:
            save(args.output, frames, fixed, {**record, "seconds": time.perf_counter() - start})
            print(f"{len(frames['energy'])} frames, {time.perf_counter() - start:.0f} s, "
                  f"T = {np.mean(frames['temperature'][-args.save_every:]):.0f} K", flush=True)
    save(args.output, frames, fixed, {**record, "seconds": time.perf_counter() - start})
    print(f"wrote {args.output} ({len(frames['energy'])} frames) and {args.output.with_suffix('.json')}")
    return args.output


if __name__ == "__main__":
    main()
