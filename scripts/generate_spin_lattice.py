"""Reference data for the spin-lattice example: a periodic simple cubic lattice of atoms
with magnetic moments, labelled with energies, forces and effective fields of a Morse +
Heisenberg model with distance-dependent exchange, written to an .npz with a provenance
JSON beside it.

    python scripts/generate_spin_lattice.py --order ferro --output runs/extensions/spin_lattice_ferro.npz
    python scripts/generate_spin_lattice.py --order antiferro --output runs/extensions/spin_lattice_antiferro.npz

``--order ferro`` uses J0 = +0.02 eV (ferromagnetic ground state), ``antiferro``
J0 = -0.02 eV (G-type antiferromagnet); see
`equipot.extensions.spin_lattice.HeisenbergLatticeReference` and
`sample_spin_lattice_frames` for the model and the sampling.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from equipot.extensions.spin_lattice import HeisenbergLatticeReference, sample_spin_lattice_frames
from provenance import git_commit

EXCHANGE = {"ferro": 0.02, "antiferro": -0.02}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", choices=sorted(EXCHANGE), default="ferro")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3, help="cells per side of the simple cubic lattice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="default runs/extensions/spin_lattice_ORDER.npz")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    output = args.output or Path(f"runs/extensions/spin_lattice_{args.order}.npz")
    reference = HeisenbergLatticeReference(exchange=EXCHANGE[args.order])
    frames = sample_spin_lattice_frames(reference, args.frames, args.repeats, seed=args.seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **{k: v.numpy() for k, v in frames.items()})
    record = {
        "dataset": output.name,
        "generator": "scripts/generate_spin_lattice.py",
        "command": " ".join(["python", "scripts/generate_spin_lattice.py", *(sys.argv[1:] if argv is None else argv)]),
        "units": {"positions": "Å", "energy": "eV", "forces": "eV/Å", "fields": "eV per unit moment (-dE/dm)"},
        "reference": {"class": "equipot.extensions.spin_lattice.HeisenbergLatticeReference",
                      **dataclasses.asdict(reference)},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "git_commit": git_commit(),
    }
    json_path = output.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output} ({args.frames} frames of {args.repeats ** 3} atoms) and {json_path}")
    return output


if __name__ == "__main__":
    main()
