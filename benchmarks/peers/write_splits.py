"""Write the train/valid/test splits that equipot, MACE and NequIP all train on.

One random split per shipped dataset (seed 0), written as plain extxyz with the labels as
ASE calculator results (``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³ Voigt), so each
library reads identical frames:

    python benchmarks/peers/write_splits.py --out benchmarks/results/data

Writes ``ethanol_{train,valid,test,hot}.xyz`` (hot: the 1000 K frames, twice the
training temperature) and ``cu_{train,valid,test}.xyz``.

With ``--generated DIR`` it also splits the held-out data of ``scripts/generate_peer_data.py``
found there (see `GENERATED`): 70 % train, 10 % valid, 20 % test of the MD file (seeded random
split), and the whole hot file as ``<name>_hot.xyz``::

    python benchmarks/peers/write_splits.py --out benchmarks/results/data \\
        --generated benchmarks/results/data/generated
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
#: generated dataset -> (MD file, hot file) in the --generated folder
GENERATED = {
    "acetamide": ("acetamide_500K.xyz.gz", "acetamide_1000K.xyz.gz"),
    "pyridine": ("pyridine_500K.xyz.gz", "pyridine_1000K.xyz.gz"),
    "cuni": ("cuni_300-900K.xyz.gz", "cuni_1500K.xyz.gz"),
}
#: fractions of a generated MD file for (valid, test); the rest is the training set
GENERATED_FRACTIONS = (0.1, 0.2)


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


def split_generated(source: Path, out: Path, seed: int = 0) -> dict[str, Path]:
    """Split each generated dataset whose two files are in ``source``; skip the others."""
    from ase.io import read

    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, (md_file, hot_file) in GENERATED.items():
        if not (source / md_file).is_file() or not (source / hot_file).is_file():
            continue
        frames = [bare_copy(atoms) for atoms in read(source / md_file, ":")]
        order = np.random.default_rng(seed).permutation(len(frames))
        n_valid, n_test = (round(fraction * len(frames)) for fraction in GENERATED_FRACTIONS)
        parts = {"valid": order[:n_valid], "test": order[n_valid : n_valid + n_test], "train": order[n_valid + n_test :]}
        for part, indices in parts.items():
            paths[f"{name}_{part}"] = out / f"{name}_{part}.xyz"
            write(paths[f"{name}_{part}"], [frames[i] for i in sorted(indices)], format="extxyz")
        paths[f"{name}_hot"] = out / f"{name}_hot.xyz"
        write(paths[f"{name}_hot"], [bare_copy(atoms) for atoms in read(source / hot_file, ":")], format="extxyz")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generated", type=Path, help="folder of scripts/generate_peer_data.py outputs to split too")
    parser.add_argument("--only-generated", action="store_true", help="split only the --generated data")
    args = parser.parse_args()
    paths = {} if args.only_generated else write_splits(args.out, args.seed)
    if args.generated:
        paths.update(split_generated(args.generated, args.out, args.seed))
    for key, path in paths.items():
        print(f"{key:>14s}: {path}")


if __name__ == "__main__":
    main()
