"""Generate NaCl reference frames: Born–Mayer–Huggins (Tosi–Fumi) short range plus full
Ewald Coulomb of formal charges ±1 e (`nacl_bmh.BMHCoulombCalculator`, parameters and units
in its docstring).

Two sets, each from Langevin MD (ASE, 2 fs steps, friction 0.02/fs) at the temperatures
``--temperatures`` (K), ``--runs`` independent trajectories per temperature (CsCl:
``--cscl-runs``, default the same):

- rocksalt: 2x2x2 conventional cells (64 atoms), a = 5.62 Å (the zero-stress lattice
  constant of this potential at 0 K) times ``1 + c`` for each hydrostatic strain c of
  ``--compressions`` (e.g. -0.08: a = 5.17 Å, 12 GPa at 0 K; -0.12: a = 4.95 Å, 26 GPa,
  the pressures at which the CsCl structure forms), the cell held fixed during the MD;
  each frame records its ``info["compression"]``;
- CsCl structure: 3x3x3 cells (54 atoms), a = 3.43 Å (its zero-stress lattice constant).

Runs loop over compressions (rocksalt only), then temperatures, then ``--runs``. Each run
starts from the ideal crystal with thermal velocities, equilibrates
``--equilibrate`` steps and stores a frame every ``--interval`` steps. Every stored frame is
a copy of the snapshot with a random symmetric strain (six Voigt components uniform in
[-max_strain, max_strain], ``set_cell(cell @ (I + eps), scale_atoms=True)``), labelled by a
fresh call; the strained copy never feeds back into the MD. Labels (ASE units): ``energy``
eV, ``forces`` eV/Å, ``stress`` eV/Å³ (ASE sign, Voigt order), ``charges`` e (the formal
charges, for an optional charge loss). Output: ``<output-dir>/nacl_rocksalt.xyz.gz`` and
``nacl_cscl.xyz.gz`` with a provenance JSON beside each::

    OMP_NUM_THREADS=1 python scripts/generate_nacl_bmh.py --output-dir runs/nacl_bmh \
        --temperatures 300 600 900 1200 --runs 2 --frames-per-run 25 --cscl-frames-per-run 5 --seed 0

(the first data set of docs/longrange.md; with the default ``--compressions 0`` the
random stream, and so every frame, is the same as before that option existed) and the
rocksalt set with compressed cells that the NaCl study now trains on::

    OMP_NUM_THREADS=1 python scripts/generate_nacl_bmh.py --output-dir runs/nacl_bmh_compressed \
        --temperatures 300 600 900 1200 --compressions 0 -0.04 -0.08 -0.12 --runs 1 --frames-per-run 12 \
        --cscl-runs 2 --cscl-frames-per-run 5 --interval 20 --seed 0

and, with another seed and no CsCl set (``--cscl-frames-per-run 0``), the held-out
uncompressed rocksalt frames that the study measures the CsCl − rocksalt difference against::

    OMP_NUM_THREADS=1 python scripts/generate_nacl_bmh.py --output-dir runs/nacl_bmh_rocksalt_gap \
        --temperatures 300 600 900 1200 --runs 2 --frames-per-run 5 --cscl-frames-per-run 0 --interval 20 --seed 1
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.constraints import FixCom
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from nacl_bmh import TOSI_FUMI_NACL, BMHCoulombCalculator  # scripts/nacl_bmh.py
from provenance import write_dataset  # scripts/provenance.py

ROCKSALT_A = 5.62  # Å
CSCL_A = 3.43  # Å


def rocksalt(compression: float = 0.0) -> Atoms:
    """2x2x2 conventional rocksalt NaCl, 64 atoms, lattice constant ``ROCKSALT_A * (1 + compression)``."""
    return bulk("NaCl", "rocksalt", a=ROCKSALT_A * (1.0 + compression), cubic=True) * (2, 2, 2)


def cscl() -> Atoms:
    """3x3x3 CsCl-structure NaCl, 54 atoms."""
    return Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * CSCL_A, pbc=True) * (3, 3, 3)


def labelled(atoms: Atoms, calculator: BMHCoulombCalculator) -> Atoms:
    """A copy of ``atoms`` with energy, forces, stress and charges from ``calculator``."""
    copy = atoms.copy()
    copy.set_constraint()
    copy.calc = calculator
    labels = {
        "energy": copy.get_potential_energy(),
        "forces": copy.get_forces(),
        "stress": copy.get_stress(),
        "charges": copy.calc.results["charges"],
    }
    copy.calc = SinglePointCalculator(copy, **labels)
    return copy


def strained(atoms: Atoms, rng: np.random.Generator, max_strain: float) -> Atoms:
    """A copy with a random symmetric strain of at most ``max_strain`` per Voigt component."""
    xx, yy, zz, yz, xz, xy = rng.uniform(-max_strain, max_strain, 6)
    eps = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    copy = atoms.copy()
    copy.set_constraint()
    copy.set_cell(atoms.cell @ (np.eye(3) + eps), scale_atoms=True)
    return copy


def md_frames(
    start: Atoms, temperature: float, frames: int, args: argparse.Namespace, rng: np.random.Generator, tag: str
) -> list[Atoms]:
    """``frames`` strained, labelled frames of one Langevin run at ``temperature`` (K)."""
    calculator = BMHCoulombCalculator()
    atoms = start.copy()
    atoms.calc = calculator
    atoms.set_constraint(FixCom())
    thermalize_momenta(atoms, temperature, rng=rng)
    Stationary(atoms)
    dynamics = Langevin(atoms, 2.0 * units.fs, temperature_K=temperature, friction=0.02 / units.fs, fixcm=False, rng=rng)
    dynamics.run(args.equilibrate)
    found = []
    for index in range(frames):
        dynamics.run(args.interval)
        frame = labelled(strained(atoms, rng, args.max_strain), calculator)
        frame.info.update({"structure": tag, "temperature_K": temperature, "frame": index})
        found.append(frame)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("runs/nacl_bmh"))
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 600.0, 900.0, 1200.0])
    parser.add_argument("--runs", type=int, default=2, help="trajectories per temperature")
    parser.add_argument("--frames-per-run", type=int, default=25, help="rocksalt frames per trajectory")
    parser.add_argument("--cscl-frames-per-run", type=int, default=5, help="CsCl frames per trajectory")
    parser.add_argument("--cscl-runs", type=int, default=None, help="CsCl trajectories per temperature (default: --runs)")
    parser.add_argument(
        "--compressions", type=float, nargs="+", default=[0.0],
        help="hydrostatic strains of the rocksalt start cells (lattice constant 5.62 Å x (1 + c)); negative compresses",
    )
    parser.add_argument("--equilibrate", type=int, default=100, help="MD steps before the first frame")
    parser.add_argument("--interval", type=int, default=10, help="MD steps between frames")
    parser.add_argument("--max-strain", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    started = time.time()
    if any(not -0.3 < c < 0.3 for c in args.compressions):
        parser.error(f"--compressions are hydrostatic strains such as -0.08 (8 % shorter cell edges), got {args.compressions}")
    sets = {
        "nacl_rocksalt": ([(c, rocksalt(c)) for c in args.compressions], args.runs, args.frames_per_run),
        "nacl_cscl": ([(0.0, cscl())], args.runs if args.cscl_runs is None else args.cscl_runs, args.cscl_frames_per_run),
    }
    for name, (starts, runs, per_run) in sets.items():
        if per_run == 0:  # e.g. --cscl-frames-per-run 0: a rocksalt set alone
            continue
        frames = []
        for compression, start in starts:
            for temperature in args.temperatures:
                for _ in range(runs):
                    found = md_frames(start, temperature, per_run, args, rng, name.removeprefix("nacl_"))
                    for frame in found:
                        frame.info["compression"] = compression
                    frames += found
        provenance = {
            "generator": "scripts/generate_nacl_bmh.py",
            "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
            "method": "Born-Mayer-Huggins short range (Tosi & Fumi 1964, NaCl) + Ewald Coulomb of formal charges +-1 e",
            "parameters": {
                "rho_A": TOSI_FUMI_NACL["rho"],
                "pairs_Ab_eV_sigma_A_C_eVA6_D_eVA8": {f"{a}-{b}": list(v) for (a, b), v in TOSI_FUMI_NACL["pairs"].items()},
                "short_range_switch_A": [8.0, 10.0],
                "ewald_accuracy_e_per_A": 1e-8,
            },
            "structure": name.removeprefix("nacl_"),
            "supercell_atoms": len(start),
            "lattice_constant_A": ROCKSALT_A if name == "nacl_rocksalt" else CSCL_A,
            "compressions": [c for c, _ in starts],
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "units": {"energy": "eV", "forces": "eV/A", "stress": "eV/A^3 (ASE sign, Voigt)", "charges": "e"},
        }
        path = write_dataset(frames, args.output_dir / f"{name}.xyz.gz", provenance, packages=("ase", "numpy", "torch", "torch-pme"))
        print(f"{name}: {len(frames)} frames -> {path} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
