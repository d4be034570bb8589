"""Add Hessian labels (probe vectors v and Hessian-vector products H v) to structures, for
Hessian (Sobolev) training (``loss.hessian_weight``, see docs/training.md).

Reference methods: GFN2-xTB through tblite's ASE calculator (molecules; tblite returns
energies, gradients and the virial but no Hessian) or ASE's EMT (metals such as Cu; no
analytic Hessian either). ``H v`` is therefore the central finite difference of the
reference forces along v,

    H v = -(F(r + h v) - F(r - h v)) / (2 h),     h = --step / max|v|  (Å per unit of v),

two force calls per probe (second-order error, h^2 ~ 1e-6 Å^2 at the default step).

Modes (K probes per structure, stored per atom as [n_atoms, 3K], column ``c K + k`` =
Cartesian component c of probe k, i.e. ``v.reshape(n_atoms, 3 * K)`` of v [n_atoms, 3, K]):

- ``full``: all 3N unit vectors: the products are the 3N columns of H (small molecules);
- ``rows``: ``--probes`` unit vectors at random coordinates: random rows (= columns) of H;
- ``hvp``: ``--probes`` random unit-norm Gaussian vectors: plain Hessian-vector products
  (memory linear in atoms at training time, for any size).

Energies and forces are written too (extxyz with ``energy``/``forces`` and the per-atom
arrays ``hessian_probes`` and ``hessian_products``, eV/Å² per unit of v). A structure
that should stay without Hessian labels (partial labels) is written with ``--skip-every``.
Examples::

    OMP_NUM_THREADS=1 python scripts/generate_hessian_labels.py --input shipped:ethanol --index :40 \
        --reference gfn2 --mode full --output ethanol_hessians.xyz
    python scripts/generate_hessian_labels.py --reference emt --system cu --frames 20 \
        --mode hvp --probes 4 --output cu_hvp.xyz
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import ase.io
import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

MODES = ("full", "rows", "hvp")


def reference_calculator(name: str) -> Calculator:
    """``gfn2`` (tblite GFN2-xTB, tight SCF) or ``emt`` (ASE's EMT)."""
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if name == "gfn2":
        from tblite.ase import TBLite

        return TBLite(method="GFN2-xTB", accuracy=0.01, verbosity=0)
    raise ValueError(f"unknown reference {name!r}; choose 'gfn2' or 'emt'")


def probe_vectors(n_atoms: int, mode: str, n_probes: int, rng: np.random.Generator) -> np.ndarray:
    """Probe vectors v [n_atoms, 3, K] of ``mode`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    n_coordinates = 3 * n_atoms
    if mode == "hvp":
        probes = rng.normal(size=(n_coordinates, n_probes))
        probes /= np.linalg.norm(probes, axis=0)
    else:
        chosen = np.arange(n_coordinates) if mode == "full" else rng.choice(n_coordinates, min(n_probes, n_coordinates), replace=False)
        probes = np.zeros((n_coordinates, len(chosen)))
        probes[chosen, np.arange(len(chosen))] = 1.0
    return probes.reshape(n_atoms, 3, -1)


def hessian_vector_labels(atoms: Atoms, calculator: Calculator, probes: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """``H v`` [n_atoms, 3, K] (eV/Å² per unit of v) by central differences of the forces of
    ``calculator`` along each probe v [n_atoms, 3, K], with displacements of ``step`` Å
    for the largest component."""
    products = np.empty_like(probes)
    work = atoms.copy()
    work.calc = calculator
    for k in range(probes.shape[2]):
        v = probes[:, :, k]
        h = step / np.abs(v).max()
        forces = []
        for sign in (1.0, -1.0):
            work.positions = atoms.positions + sign * h * v
            forces.append(work.get_forces())
        products[:, :, k] = -(forces[0] - forces[1]) / (2 * h)
    return products


def labelled(atoms: Atoms, calculator: Calculator, probes: np.ndarray | None, step: float) -> Atoms:
    """A copy of ``atoms`` with reference energy, forces and (if ``probes``) Hessian labels."""
    result = atoms.copy()
    result.calc = calculator
    energy, forces = result.get_potential_energy(), result.get_forces()
    stress = result.get_stress() if result.pbc.all() else None
    if probes is not None:
        products = hessian_vector_labels(atoms, calculator, probes, step)
        result.arrays["hessian_probes"] = probes.reshape(len(atoms), -1)
        result.arrays["hessian_products"] = products.reshape(len(atoms), -1)
    labels = {"energy": energy, "forces": forces} | ({"stress": stress} if stress is not None else {})
    result.calc = SinglePointCalculator(result, **labels)
    return result


def copper_frames(n_frames: int, rng: np.random.Generator, repeat: int = 2) -> list[Atoms]:
    """Strained (±2 %), rattled (0.05 Å) fcc Cu cells of 4 repeat^3 atoms."""
    frames = []
    for _ in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)
        strain = np.eye(3) + 0.02 * rng.uniform(-1, 1, (3, 3))
        atoms.set_cell(atoms.cell @ (strain + strain.T) / 2, scale_atoms=True)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", help="structures to label (any ASE-readable file, or shipped:ethanol / shipped:cu)")
    parser.add_argument("--index", default=":", help="frames of --input, as in ase.io.read")
    parser.add_argument("--system", choices=("cu",), help="build strained, rattled fcc Cu cells instead of --input")
    parser.add_argument("--frames", type=int, default=10, help="number of Cu cells with --system cu")
    parser.add_argument("--reference", choices=("gfn2", "emt"), required=True)
    parser.add_argument("--mode", choices=MODES, default="hvp")
    parser.add_argument("--probes", type=int, default=4, help="probes per structure (rows, hvp)")
    parser.add_argument("--step", type=float, default=1e-3, help="finite-difference step (Å)")
    parser.add_argument("--skip-every", type=int, default=0, help="leave every n-th structure without Hessian labels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    if args.system == "cu":
        structures = copper_frames(args.frames, rng)
    elif args.input:
        from equipot.data.shipped import resolve_data_path

        structures = ase.io.read(resolve_data_path(args.input), index=args.index)
        structures = structures if isinstance(structures, list) else [structures]
    else:
        parser.error("give --input FILE or --system cu")
    calculator = reference_calculator(args.reference)
    frames = []
    for number, atoms in enumerate(structures):
        skip = args.skip_every > 0 and number % args.skip_every == args.skip_every - 1
        probes = None if skip else probe_vectors(len(atoms), args.mode, args.probes, rng)
        frames.append(labelled(atoms, calculator, probes, args.step))
    ase.io.write(args.output, frames)
    print(f"wrote {len(frames)} structures ({sum('hessian_probes' in f.arrays for f in frames)} with Hessian labels) to {args.output}")


if __name__ == "__main__":
    main()
