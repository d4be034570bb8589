"""Learn a hyperelastic law W(C) of fcc Cu from EMT (or a model file) stress-strain data,
compare its small-strain elastic constants with the elastic tensor of the same energy,
and save it as a callable for continuum codes.

    OMP_NUM_THREADS=1 python scripts/hyperelastic_cu.py --output cu_law.pt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from equipot.properties import elastic_tensor
from equipot.properties.constitutive import fit_hyperelastic, stress_strain_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model file (default: ASE's EMT)")
    parser.add_argument("--lattice", type=float, default=3.5898, help="fcc lattice constant (Å)")
    parser.add_argument("--output", type=Path, default=Path("cu_law.pt"))
    args = parser.parse_args()
    if args.model is None:
        source = EMT()
    else:
        import torch

        from equipot import load_model

        source = load_model(args.model, dtype=torch.float64)
    cube = bulk("Cu", a=args.lattice, cubic=True)
    reference = elastic_tensor(source, cube).matrix
    train = stress_strain_data(source, cube, n_samples=200, max_strain=0.03, seed=0)
    test = stress_strain_data(source, cube, n_samples=100, max_strain=0.03, seed=1)
    print("| law | C11 | C12 | C44 (GPa) | test σ RMSE (GPa) | test W RMSE (MPa) | fit (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| elastic tensor (central differences) | {reference[0, 0]:.1f} | {reference[0, 1]:.1f} | "
          f"{reference[3, 3]:.1f} | | | |")
    for symmetry in ("cubic", "isotropic"):
        start = time.perf_counter()
        law = fit_hyperelastic(train, symmetry=symmetry, hidden=16, iterations=300)
        seconds = time.perf_counter() - start
        constants = law.elastic_constants()
        sigma = np.sqrt(np.mean((law.cauchy(test.F).numpy() - test.sigma) ** 2))
        energy = np.sqrt(np.mean((law.energy(test.F).detach().numpy() - test.W) ** 2)) * 1000
        print(f"| learned W, {symmetry} invariants | {constants[0, 0]:.1f} | {constants[0, 1]:.1f} | "
              f"{constants[3, 3]:.1f} | {sigma:.3f} | {energy:.2f} | {seconds:.1f} |")
        if symmetry == "cubic":
            law.save(args.output)
    print(f"saved the cubic law to {args.output}")


if __name__ == "__main__":
    main()
