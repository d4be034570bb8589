"""Rigid docking of the TIP3P water dimer (ASE's TIP3P calculator) against brute-force
pose scans of the same energy, through `equipot.properties.docking`.

    OMP_NUM_THREADS=1 python scripts/docking_water_dimer.py
"""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms, units
from ase.calculators.tip3p import TIP3P, angleHOH, rOH

from equipot.properties.docking import dock, pose_scan

KCAL = units.kcal / units.mol


def main() -> None:
    angle = np.radians(angleHOH)
    water = Atoms("OH2", positions=[[0, 0, 0], [rOH, 0, 0], [rOH * np.cos(angle), rOH * np.sin(angle), 0]])
    print("| method | poses / energy calls | lowest E (kcal/mol) | R_OO (Å) | wall time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for starts in (1, 4, 8):
        start = time.perf_counter()
        result = dock(TIP3P(rc=20.0), water, water, n_starts=starts, seed=0)
        distance = np.linalg.norm(result.atoms.positions[0] - result.atoms.positions[3])
        print(f"| dock, {starts} start(s) | {result.n_energy_calls} | {result.energy / KCAL:.3f} | {distance:.3f} "
              f"| {time.perf_counter() - start:.1f} |")
    for rotations, directions in ((50, 20), (200, 50)):
        start = time.perf_counter()
        scan = pose_scan(TIP3P(rc=20.0), water, water, n_rotations=rotations, n_directions=directions,
                         distances=(2.6, 2.8, 3.0))
        distance = np.linalg.norm(scan.atoms.positions[0] - scan.atoms.positions[3])
        print(f"| scan, {rotations} rotations x {directions} directions x 3 distances | {scan.n_poses} "
              f"| {scan.energy / KCAL:.3f} | {distance:.3f} | {time.perf_counter() - start:.1f} |")


if __name__ == "__main__":
    main()
