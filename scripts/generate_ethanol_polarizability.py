"""Label shipped ethanol frames with GFN2-xTB polarizabilities from finite electric fields.

For each frame of ``equipot.data.shipped.read_shipped_dataset("ethanol")`` (GFN2-xTB
energies, forces and dipoles), the static dipole polarizability is the derivative of the
dipole with respect to a uniform electric field, by central differences:

    alpha[:, j] = (mu(+h e_j) - mu(-h e_j)) / (2 h)        (atomic units: Bohr^3)

computed with tblite's own Python API (``tblite.interface.Calculator`` with an
``electric-field`` container). tblite's ASE calculator accepts ``electric_field``, but in
tblite 0.8 its binding passes a numpy array where the C library expects a pointer
(``TypeError: initializer for ctype 'double *' must be a cdata pointer``), so the
container is created here with an explicit ``ffi.cast``. The result is converted to Å³
(``* Bohr**3``) and symmetrized (its antisymmetric part is ~1e-6 Å³, finite-difference noise).

GFN2-xTB has a minimal valence basis, so its polarizabilities are about half the
experimental value of ethanol (5.1 Å³): a consistent reference for the polarizability
head, not an accurate one.

Output: extxyz (gzipped if the name ends in .gz) with ``energy``, ``forces``, ``dipole``
(copied from the shipped data) and ``polarizability`` (Å³, 3x3 flattened in
``atoms.info``); a provenance JSON next to it. Example::

    OMP_NUM_THREADS=1 python scripts/generate_ethanol_polarizability.py \
        --frames 800 --output runs/data/ethanol_polarizability.xyz.gz
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
from ase.units import Bohr
from tblite import library
from tblite.interface import Calculator

from equipot.data.shipped import read_shipped_dataset
from provenance import write_dataset  # scripts/provenance.py


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=800, help="first N frames of the shipped ethanol set")
    parser.add_argument("--field", type=float, default=1e-3, help="finite field step h in atomic units")
    parser.add_argument("--accuracy", type=float, default=0.01, help="tblite SCF accuracy")
    parser.add_argument("--output", type=Path, default=Path("runs/data/ethanol_polarizability.xyz.gz"))
    return parser.parse_args(argv)


def dipole_in_field(atoms: Atoms, field: np.ndarray, accuracy: float) -> np.ndarray:
    """GFN2-xTB dipole (e·Bohr) of ``atoms`` in the uniform field ``field`` (atomic units)."""
    calculator = Calculator("GFN2-xTB", atoms.numbers, atoms.positions / Bohr)
    calculator.set("verbosity", 0)
    calculator.set("accuracy", accuracy)
    field = np.ascontiguousarray(field, dtype=np.float64)  # must outlive the container
    container = library.lib.tblite_new_electric_field(library.ffi.cast("double*", field.ctypes.data))
    library.calculator_push_back(calculator._ctx, calculator._calc, container)
    return np.asarray(calculator.singlepoint().get("dipole"), dtype=np.float64)


def polarizability(atoms: Atoms, step: float, accuracy: float) -> np.ndarray:
    """Static polarizability (Å³, 3x3, symmetrized) by central finite differences."""
    alpha = np.zeros((3, 3))
    for j in range(3):
        field = np.zeros(3)
        field[j] = step
        alpha[:, j] = (dipole_in_field(atoms, field, accuracy) - dipole_in_field(atoms, -field, accuracy)) / (2 * step)
    return 0.5 * (alpha + alpha.T) * Bohr**3


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    frames = read_shipped_dataset("ethanol")[: args.frames]
    labelled = []
    for index, atoms in enumerate(frames):
        alpha = polarizability(atoms, args.field, args.accuracy)
        results = dict(atoms.calc.results)
        copy = Atoms(atoms.numbers, atoms.positions)
        copy.info["polarizability"] = alpha.reshape(-1)
        copy.calc = SinglePointCalculator(copy, **results)
        labelled.append(copy)
        if index % 100 == 0:
            print(f"frame {index}: trace/3 = {np.trace(alpha) / 3:.4f} Å³, {time.time() - started:.0f} s", flush=True)
    alphas = np.array([a.info["polarizability"] for a in labelled]).reshape(-1, 3, 3)
    provenance = {
        "generator": "scripts/generate_ethanol_polarizability.py",
        "command": shlex.join([sys.executable.split("/")[-1], *sys.argv]),
        "source": f"first {len(labelled)} frames of equipot's shipped 'ethanol' set (GFN2-xTB MD at 500 K)",
        "method": "GFN2-xTB (tblite.interface.Calculator), finite electric field, central differences",
        "field_step_au": args.field,
        "accuracy": args.accuracy,
        "labels": {"polarizability": "Å³, 3x3 (symmetrized), atoms.info", "dipole": "e·Å", "energy": "eV", "forces": "eV/Å"},
        "mean_isotropic_A3": float(np.trace(alphas, axis1=1, axis2=2).mean() / 3),
        "wall_time_s": round(time.time() - started, 1),
    }
    write_dataset(labelled, args.output, provenance, packages=("ase", "tblite", "numpy"))


if __name__ == "__main__":
    main()
