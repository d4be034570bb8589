"""Water dimer pulled apart, labelled by GFN2-xTB (tblite): the polar-molecule tail set of
docs/longrange.md.

The dimer starts from the S22 water dimer (`ase.collections.s22`, a linear hydrogen bond,
O–O 2.91 Å; atoms 0–2 the donor, 3–5 the acceptor); the acceptor is moved along the O–O
axis. Three files, gzipped extxyz with a provenance JSON each:

- ``water_dimer_train.xyz.gz``: ``--train-frames`` frames with the O–O distance drawn
  uniformly in [``--min-distance``, ``--max-train-distance``] Å (inside the local models'
  reach), each monomer turned about its centre of mass by up to ``--max-angle`` degrees
  about a random axis and every atom displaced by Gaussian noise of ``--noise`` Å
  (thermal-like distortions); frames with two atoms of different molecules closer than
  1.3 Å are drawn again;
- ``water_dimer_scan.xyz.gz``: the rigid S22 dimer at O–O distances from 2.5 to 20 Å
  (``atoms.info["d_OO"]``, Å), the curve the models are compared on;
- ``water_monomers.xyz.gz``: the donor and the acceptor alone (their energies sum to the
  dimer's at infinite separation).

Labels (ASE units): ``energy`` (eV), ``forces`` (eV/Å), ``charges`` (GFN2-xTB Mulliken
charges, e) and ``dipole`` (e·Å), each from a fresh single point with ``--accuracy``
(0.01: 100x tighter SCF than tblite's default). About 30 s on one thread::

    OMP_NUM_THREADS=1 python scripts/generate_water_dimer_xtb.py --output-dir runs/water_dimer --seed 0
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.collections import s22
from scipy.spatial.transform import Rotation
from tblite.ase import TBLite

from provenance import write_dataset  # scripts/provenance.py

METHOD = "GFN2-xTB"
DONOR, ACCEPTOR = slice(0, 3), slice(3, 6)
SCAN_DISTANCES = np.concatenate([np.arange(2.5, 8.0, 0.25), np.arange(8.0, 20.001, 0.5)])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("runs/water_dimer"))
    parser.add_argument("--train-frames", type=int, default=300)
    parser.add_argument("--min-distance", type=float, default=2.5, help="shortest O–O distance (Å)")
    parser.add_argument("--max-train-distance", type=float, default=6.0, help="longest O–O distance in training (Å)")
    parser.add_argument("--max-angle", type=float, default=25.0, help="largest turn of a monomer (degrees)")
    parser.add_argument("--noise", type=float, default=0.04, help="Gaussian displacement of every atom (Å)")
    parser.add_argument("--accuracy", type=float, default=0.01, help="tblite accuracy (tblite default 1.0)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def labelled(atoms: Atoms, accuracy: float, **info: float) -> Atoms:
    """A bare copy of ``atoms`` labelled by a fresh GFN2-xTB single point."""
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions)
    frame.info.update(info)
    calc = TBLite(method=METHOD, accuracy=accuracy, verbosity=0)
    calc.calculate(frame, properties=["energy", "forces", "charges", "dipole"])
    frame.calc = SinglePointCalculator(
        frame,
        energy=float(calc.results["energy"]),
        forces=np.array(calc.results["forces"]),
        charges=np.array(calc.results["charges"]),
        dipole=np.array(calc.results["dipole"]),
    )
    return frame


def dimer_at(distance: float) -> Atoms:
    """The S22 water dimer with its acceptor moved along the O–O axis to ``distance`` (Å)."""
    atoms = s22["Water_dimer"].copy()
    axis = atoms.positions[3] - atoms.positions[0]
    length = np.linalg.norm(axis)
    atoms.positions[ACCEPTOR] += (distance - length) * axis / length
    return atoms


def distorted(atoms: Atoms, rng: np.random.Generator, max_angle: float, noise: float) -> Atoms:
    """``atoms`` with each monomer turned about its centre of mass and every atom displaced."""
    atoms = atoms.copy()
    for molecule in (DONOR, ACCEPTOR):
        positions = atoms.positions[molecule]
        centre = np.average(positions, axis=0, weights=atoms.get_masses()[molecule])
        axis = rng.normal(size=3)
        turn = Rotation.from_rotvec(np.radians(rng.uniform(0, max_angle)) * axis / np.linalg.norm(axis))
        atoms.positions[molecule] = turn.apply(positions - centre) + centre
    atoms.positions += rng.normal(scale=noise, size=atoms.positions.shape)
    return atoms


def closest_contact(atoms: Atoms) -> float:
    """Shortest distance (Å) between an atom of the donor and one of the acceptor."""
    return float(np.linalg.norm(atoms.positions[DONOR, None] - atoms.positions[None, ACCEPTOR], axis=-1).min())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    train = []
    while len(train) < args.train_frames:
        distance = rng.uniform(args.min_distance, args.max_train_distance)
        atoms = distorted(dimer_at(distance), rng, args.max_angle, args.noise)
        if closest_contact(atoms) > 1.3:
            train.append(labelled(atoms, args.accuracy, d_OO=float(distance)))
    scan = [labelled(dimer_at(d), args.accuracy, d_OO=float(d)) for d in SCAN_DISTANCES]
    dimer = s22["Water_dimer"]
    monomers = [labelled(dimer[DONOR], args.accuracy), labelled(dimer[ACCEPTOR], args.accuracy)]
    provenance = {
        "generator": "scripts/generate_water_dimer_xtb.py",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "method": METHOD,
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "labels": {"energy": "eV", "forces": "eV/Å", "charges": "e (Mulliken)", "dipole": "e·Å"},
    }
    for name, frames in (("water_dimer_train", train), ("water_dimer_scan", scan), ("water_monomers", monomers)):
        write_dataset(frames, args.output_dir / f"{name}.xyz.gz", provenance, packages=("ase", "numpy", "tblite"))
    print(f"labelled {len(train) + len(scan) + len(monomers)} structures in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
