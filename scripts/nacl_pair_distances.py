"""Which NaCl pair distances and environments a training set samples, against the CsCl test
frames: the check behind the NaCl study's data (docs/longrange.md).

For each pair type (Na–Na, Na–Cl, Cl–Cl), over all pairs within 5 Å of every frame:

- the shortest distance (Å) and the 0.1 % and 1 % quantiles in the rocksalt (training) set;
- per atom of the CsCl frames, how many pairs lie below the rocksalt set's shortest and
  1 % distances, and the Born–Mayer–Huggins pair energy (eV/atom, `nacl_bmh.TOSI_FUMI_NACL`,
  repulsion minus dispersion) they carry;

per atom, the number of like ions closer than ``--like-shell`` Å (3.7 Å by default: none
in ideal rocksalt, whose like ions sit at a/√2 = 3.97 Å, six in CsCl at a = 3.43 Å), as the
fraction of atoms with 0, 1, 2, ... such neighbours in each set; and, for each of
``--tail-cutoffs``, the short-range energy the reference puts beyond that distance (meV/atom,
mean over the frames of each set), which a network with that cutoff cannot see::

    python scripts/nacl_pair_distances.py runs/nacl_bmh runs/nacl_bmh_compressed
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ase.io
import numpy as np
from ase.neighborlist import neighbor_list
import torch
from nacl_bmh import TOSI_FUMI_NACL, switch  # scripts/nacl_bmh.py

PAIRS = {(11, 11): "Na–Na", (11, 17): "Na–Cl", (17, 17): "Cl–Cl"}


def pair_types(numbers: np.ndarray, i: np.ndarray, j: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """For each pair type of ``PAIRS``, the mask over the pairs ``(i, j)`` of that type."""
    z_low, z_high = np.minimum(numbers[i], numbers[j]), np.maximum(numbers[i], numbers[j])
    return {key: (z_low == key[0]) & (z_high == key[1]) for key in PAIRS}


def pair_distances(frames: list, cutoff: float = 5.0) -> dict[tuple[int, int], np.ndarray]:
    """All distances (Å) of pairs i < j within ``cutoff``, per pair type (Z_a <= Z_b)."""
    found: dict[tuple[int, int], list[np.ndarray]] = {key: [] for key in PAIRS}
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        keep = i < j
        for key, of_type in pair_types(atoms.numbers, i[keep], j[keep]).items():
            found[key].append(d[keep][of_type])
    return {key: np.concatenate(values) for key, values in found.items()}


def bmh_pair_energy(key: tuple[int, int], r: np.ndarray) -> np.ndarray:
    """The Tosi–Fumi short-range energy (eV) of pairs of type ``key`` at distances ``r`` (Å)."""
    a, sigma, c, d = TOSI_FUMI_NACL["pairs"][key]
    return a * np.exp((sigma - r) / TOSI_FUMI_NACL["rho"]) - c / r**6 - d / r**8


def short_range_beyond(frames: list, cutoff: float, r_off: float = 10.0) -> float:
    """Mean over ``frames`` of the reference's short-range energy per atom (eV) from pairs
    farther apart than ``cutoff`` Å (with its smooth cut ``switch``; nothing beyond ``r_off``)."""
    per_atom = []
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, r_off)
        far = d > cutoff  # the full list: every pair twice, periodic images of an atom itself included
        energy = switch(torch.from_numpy(d[far]), r_off=r_off).numpy()
        for key, of_type in pair_types(atoms.numbers, i[far], j[far]).items():
            energy[of_type] *= bmh_pair_energy(key, d[far][of_type])
        per_atom.append(0.5 * energy.sum() / len(atoms))
    return float(np.mean(per_atom))


def like_neighbours(frames: list, shell: float) -> np.ndarray:
    """For every atom of every frame, the number of same-element atoms closer than ``shell`` Å."""
    counts = []
    for atoms in frames:
        i, j = neighbor_list("ij", atoms, shell)
        like = atoms.numbers[i] == atoms.numbers[j]
        counts.append(np.bincount(i[like], minlength=len(atoms)))
    return np.concatenate(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", type=Path, nargs="+", help="folders with nacl_rocksalt.xyz.gz (and nacl_cscl.xyz.gz)")
    parser.add_argument("--cscl", type=Path, default=None, help="the CsCl frames (default: nacl_cscl.xyz.gz of the first folder)")
    parser.add_argument("--like-shell", type=float, default=3.7)
    parser.add_argument("--tail-cutoffs", type=float, nargs="*", default=[4.0, 5.0], metavar="Å")
    args = parser.parse_args()
    cscl = ase.io.read(args.cscl or args.data_dirs[0] / "nacl_cscl.xyz.gz", index=":")
    cscl_pairs, cscl_atoms = pair_distances(cscl), sum(len(a) for a in cscl)
    cscl_like = like_neighbours(cscl, args.like_shell)
    for folder in args.data_dirs:
        rocksalt = ase.io.read(folder / "nacl_rocksalt.xyz.gz", index=":")
        print(f"{folder}: {len(rocksalt)} rocksalt frames; CsCl: {len(cscl)} frames")
        for key, distances in pair_distances(rocksalt).items():
            shortest, q01, q1 = distances.min(), *np.quantile(distances, [0.001, 0.01])
            line = f"  {PAIRS[key]}: rocksalt shortest {shortest:.2f} Å, 0.1 % {q01:.2f}, 1 % {q1:.2f};"
            for label, bound in (("shortest", shortest), ("1 %", q1)):
                outside = cscl_pairs[key][cscl_pairs[key] < bound]
                line += (f" CsCl below {label}: {len(outside) / cscl_atoms:.3f} pairs/atom,"
                         f" {1000 * bmh_pair_energy(key, outside).sum() / cscl_atoms:.1f} meV/atom;")
            print(line)
        rocksalt_like = like_neighbours(rocksalt, args.like_shell)
        top = max(rocksalt_like.max(), cscl_like.max())
        for label, counts in (("rocksalt", rocksalt_like), ("CsCl", cscl_like)):
            fractions = np.bincount(counts, minlength=top + 1) / len(counts)
            print(f"  like ions within {args.like_shell} Å, fraction of atoms with 0, 1, ...: {label} "
                  + " ".join(f"{f:.3f}" for f in fractions))
        for cutoff in args.tail_cutoffs:
            tails = [1000 * short_range_beyond(frames, cutoff) for frames in (rocksalt, cscl)]
            print(f"  short range beyond {cutoff} Å: rocksalt {tails[0]:.1f}, CsCl {tails[1]:.1f} meV/atom, "
                  f"CsCl - rocksalt {tails[1] - tails[0]:+.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
