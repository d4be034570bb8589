"""Write the train/valid/test splits that equipot, MACE and NequIP all train on.

One random split per shipped dataset (seed 0), written as plain extxyz with the labels as
ASE calculator results (``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³ Voigt), so each
library reads identical frames:

    python benchmarks/peers/write_splits.py --out benchmarks/results/data

Writes ``ethanol_{train,valid,test,hot}.xyz`` (hot: the 1000 K frames, twice the
training temperature) and ``cu_{train,valid,test}.xyz``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from equipot.data.shipped import read_shipped_dataset

#: dataset -> (n_train, n_valid, n_test); the rest of the frames is not used
SPLITS = {"ethanol": (1000, 100, 300), "cu": (500, 50, 100)}


def bare_copy(atoms: Atoms) -> Atoms:
    """Positions, numbers, cell and pbc, plus energy/forces/stress as calculator results."""
    copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    results = {}
    if atoms.calc is not None:
        for key in ("energy", "forces", "stress"):
            if key in atoms.calc.results:
                results[key] = np.array(atoms.calc.results[key]) if key != "energy" else float(atoms.calc.results[key])
    else:
        for key in ("energy", "stress"):
            if key in atoms.info:
                results[key] = atoms.info[key]
        if "forces" in atoms.arrays:
            results["forces"] = atoms.arrays["forces"]
    copy.calc = SinglePointCalculator(copy, **results)
    return copy


def write_splits(out: Path, seed: int = 0) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths: dict[str, Path] = {}
    for name, sizes in SPLITS.items():
        frames = read_shipped_dataset(name)
        order = rng.permutation(len(frames))
        start = 0
        for part, size in zip(("train", "valid", "test"), sizes):
            chosen = [bare_copy(frames[i]) for i in order[start : start + size]]
            start += size
            paths[f"{name}_{part}"] = out / f"{name}_{part}.xyz"
            write(paths[f"{name}_{part}"], chosen, format="extxyz")
    hot = [bare_copy(atoms) for atoms in read_shipped_dataset("ethanol_1000K")]
    paths["ethanol_hot"] = out / "ethanol_hot.xyz"
    write(paths["ethanol_hot"], hot, format="extxyz")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for key, path in write_splits(args.out, args.seed).items():
        print(f"{key:>14s}: {path}")


if __name__ == "__main__":
    main()
