"""Where a NaCl hybrid's CsCl − rocksalt error sits: its short-range and Coulomb energies
against the reference's (BMH energy minus the Ewald energy of the formal charges at 1e-8 e/Å,
and that Ewald energy), mean per atom over every ``--every``-th rocksalt frame at zero
compression (``info["compression"]``, absent in the first data set; ``--rocksalt``: another
file, e.g. the study's held-out ``--gap-frames``) and all CsCl frames::

    python scripts/longrange_nacl_energy_split.py runs/nacl_fixed_s0/hybrid/model.pt runs/nacl_q100_s0/hybrid/model.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ase.io
import numpy as np
import torch

from equipot import load_potential
from equipot.data import graph_from_atoms
from equipot.longrange import CoulombEnergy


def split(model, frames: list, reference: CoulombEnergy) -> np.ndarray:
    """Mean per atom (eV) of [short-range predicted, reference; Coulomb predicted, reference]."""
    rows = []
    for atoms in frames:
        graph = graph_from_atoms(atoms, model.cutoff)
        out = model(graph, outputs={"energy", "energy_short_range", "energy_long_range"}, create_graph=False)
        charges = torch.as_tensor(atoms.calc.results["charges"], dtype=torch.float64)
        with torch.no_grad():
            coulomb = float(reference(charges, graph.positions, graph.cell, graph.pbc, graph.batch)[0].sum())
        short, long = (float(out.extra[k].detach()[0]) for k in ("energy_short_range", "energy_long_range"))
        rows.append(np.array([short, atoms.get_potential_energy() - coulomb, long, coulomb]) / len(atoms))
    return np.mean(rows, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+", help="hybrid model files (.pt)")
    parser.add_argument("--data-dir", type=Path, default=Path("runs/nacl_bmh"))
    parser.add_argument("--rocksalt", type=Path, default=None, help="rocksalt frames (default: <data-dir>/nacl_rocksalt.xyz.gz)")
    parser.add_argument("--every", type=int, default=10, help="use every n-th uncompressed rocksalt frame")
    args = parser.parse_args()
    torch.set_num_threads(1)
    reference = CoulombEnergy(method="ewald", accuracy=1e-8, real_space_cutoff=8.0)
    everything = ase.io.read(args.rocksalt or args.data_dir / "nacl_rocksalt.xyz.gz", index=":")
    rocksalt = [atoms for atoms in everything if atoms.info.get("compression", 0.0) == 0.0][:: args.every]
    cscl = ase.io.read(args.data_dir / "nacl_cscl.xyz.gz", index=":")
    for path in args.models:
        model = load_potential(path, dtype=torch.float64)
        gap = 1000 * (split(model, cscl, reference) - split(model, rocksalt, reference))
        print(f"{path}: CsCl − rocksalt (meV/atom): short-range predicted {gap[0]:.1f}, reference {gap[1]:.1f}; "
              f"Coulomb predicted {gap[2]:.1f}, reference {gap[3]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
