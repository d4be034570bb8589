"""Reference data for the two-nucleon tensor-force example: random (r, s1, s2) and the
toy potential V = V_c(r) + V_sigma(r) s1.s2 + V_T(r) S12 (MeV, fm), written to an .npz
with a provenance JSON beside it.

    python scripts/generate_nuclear_tensor.py --n 4000 --output runs/extensions/nuclear_tensor.npz

The reference is `equipot.extensions.nuclear.ToyNucleonReference` (Malfliet-Tjon-like
central part, regulated one-pion-exchange spin-spin and tensor parts, isospin-0 channel);
|r| is uniform in [0.6, 4.5] fm, directions and unit spins uniform on the sphere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from equipot.extensions.nuclear import ToyNucleonReference, sample_configurations
from provenance import git_commit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="number of configurations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-distance", type=float, default=0.6, help="fm")
    parser.add_argument("--max-distance", type=float, default=4.5, help="fm")
    parser.add_argument("--output", type=Path, default=Path("runs/extensions/nuclear_tensor.npz"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    reference = ToyNucleonReference()
    r, s1, s2 = sample_configurations(args.n, args.min_distance, args.max_distance, seed=args.seed)
    energy = reference(r, s1, s2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, r=r.numpy(), s1=s1.numpy(), s2=s2.numpy(), V=energy.numpy())
    record = {
        "dataset": args.output.name,
        "generator": "scripts/generate_nuclear_tensor.py",
        "command": " ".join(["python", "scripts/generate_nuclear_tensor.py", *(sys.argv[1:] if argv is None else argv)]),
        "units": {"r": "fm", "V": "MeV", "s1, s2": "unit vectors"},
        "reference": {"class": "equipot.extensions.nuclear.ToyNucleonReference", **dataclasses.asdict(reference)},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "git_commit": git_commit(),
    }
    json_path = args.output.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({args.n} configurations) and {json_path}")
    return args.output


if __name__ == "__main__":
    main()
