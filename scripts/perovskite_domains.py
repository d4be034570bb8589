"""Ferroelectric domains of a perovskite-like supercell with formal charges (docs/longrange.md).

A cubic ABO3 cell (a = 4 Å; Ba +2, Ti +4, O -2 e) repeated 4x2x1; the Ti of each unit cell
is displaced off-centre by 0.12 Å, in two domains separated by a wall across the first
axis, with 0.005 Å of random noise on every atom. For each pattern the script prints the
local polarization of every unit cell (C/m²), its domain label and the total.

    python scripts/perovskite_domains.py
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from equipot.longrange import E_PER_A2_TO_C_PER_M2, classify_domains, local_polarization, polarization, unit_cell_groups

A, SHIFT, REPETITIONS = 4.0, 0.12, (4, 2, 1)
FORMAL = {"Ba": 2.0, "Ti": 4.0, "O": -2.0}
PATTERNS = {
    "180° wall (tetragonal)": ("tetragonal", [0, 0, 1], [0, 0, -1]),
    "90° wall (tetragonal)": ("tetragonal", [0, 0, 1], [1, 0, 0]),
    "71° wall (rhombohedral)": ("rhombohedral", [1, 1, 1], [1, -1, 1]),
}


def main() -> None:
    reference = Atoms("BaTiO3", cell=np.eye(3) * A, pbc=True, scaled_positions=[
        [0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]).repeat(REPETITIONS)
    groups = unit_cell_groups(reference.positions, reference.cell.array, REPETITIONS)
    charges = np.array([FORMAL[s] for s in reference.get_chemical_symbols()])
    titanium = np.array(reference.get_chemical_symbols()) == "Ti"
    first_axis_index = groups // (REPETITIONS[1] * REPETITIONS[2])
    rng = np.random.default_rng(0)
    for name, (family, left, right) in PATTERNS.items():
        atoms = reference.copy()
        left_shift = SHIFT * np.array(left, float) / np.linalg.norm(left)
        right_shift = SHIFT * np.array(right, float) / np.linalg.norm(right)
        for index in np.flatnonzero(titanium):
            atoms.positions[index] += left_shift if first_axis_index[index] < REPETITIONS[0] // 2 else right_shift
        atoms.positions += rng.normal(scale=0.005, size=atoms.positions.shape)
        local = local_polarization(charges, atoms.positions, reference.positions, atoms.cell.array, groups)
        domains = classify_domains(local, atoms.cell.array, family, min_magnitude=0.002)
        total = polarization(charges, atoms.positions, reference.positions, atoms.cell.array)
        print(f"\n{name}: Ti shifted {SHIFT} Å along {left} | {right}")
        print("cell  P (C/m²)                     label    cos")
        for g in range(len(local)):
            p = local[g] * E_PER_A2_TO_C_PER_M2
            print(f"{g:4d}  [{p[0]:+.3f} {p[1]:+.3f} {p[2]:+.3f}]  {domains.labels[g]:>8s}  {domains.cosines[g]:.3f}")
        t = total * E_PER_A2_TO_C_PER_M2
        print(f"total [{t[0]:+.3f} {t[1]:+.3f} {t[2]:+.3f}] C/m²")


if __name__ == "__main__":
    main()
