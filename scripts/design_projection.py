"""Steps and rigid drift of `equipot.properties.design` (projected Adam) with and without
the projection off rigid translations and rotations, on two examples:

- water (fixed TIP3P charges, -0.834/+0.417 e) steered from |mu| = 0.497 to 0.6 e·Å;
- a rattled Cu13 icosahedron (ASE EMT) steered to 1 eV below its starting energy.

    OMP_NUM_THREADS=1 python scripts/design_projection.py
"""

from __future__ import annotations

from ase.build import molecule
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron

from equipot.properties.design import design, dipole_objective, energy_objective, target_energy_objective


def main() -> None:
    water = molecule("H2O")
    water.rotate(37, "x")
    water.rotate(20, "z")
    cluster = Icosahedron("Cu", 2)
    cluster.rattle(0.05, seed=1)
    start = energy_objective(EMT(), cluster)(cluster.positions)[0]
    cases = {
        "water, dipole -> 0.6 e·Å": (water, lambda: dipole_objective([-0.834, 0.417, 0.417], 0.6), 1e-10),
        "Cu13 E -> E0 - 1 eV": (cluster, lambda: target_energy_objective(EMT(), cluster, start - 1.0), 1e-8),
    }
    print("| example | learning rate (Å) | max step (Å) | steps, projected | steps, not projected "
          "| rigid drift projected / not (Å) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (atoms, make, tolerance) in cases.items():
        for rate, cap in [(0.01, 0.1), (0.02, 0.005), (0.05, 0.01), (0.05, 0.02)]:
            runs = [design(atoms, make(), steps=3000, learning_rate=rate, max_step=cap, project=project,
                           tolerance=tolerance) for project in (True, False)]
            print(f"| {name} | {rate} | {cap} | {runs[0].steps} | {runs[1].steps} | "
                  f"{runs[0].rigid_drift_A:.4f} / {runs[1].rigid_drift_A:.4f} |")


if __name__ == "__main__":
    main()
