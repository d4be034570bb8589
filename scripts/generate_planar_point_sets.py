"""Reference data for the SO(2) example: neutral 2-D point sets with their squared radius
of gyration (invariant) and dipole (a 2-D vector), written to an .npz with a provenance
JSON beside it.

    python scripts/generate_planar_point_sets.py --n-sets 2500 --output runs/extensions/planar_point_sets.npz

Each set: ``--n-points`` points (half charge +1, half -1) in a Gaussian blob with random
axis lengths (0.5-1.5) and orientation around a random centre
(`equipot.extensions.planar.sample_point_sets`); targets from `point_set_targets`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from equipot.extensions.planar import sample_point_sets
from provenance import git_commit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sets", type=int, default=2500)
    parser.add_argument("--n-points", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs/extensions/planar_point_sets.npz"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    sets = sample_point_sets(args.n_sets, args.n_points, seed=args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, positions=sets.positions.numpy(), species=sets.species.numpy(),
                        batch=sets.batch.numpy(), rg2=sets.rg2.numpy(), dipole=sets.dipole.numpy())
    record = {
        "dataset": args.output.name,
        "generator": "scripts/generate_planar_point_sets.py",
        "command": " ".join(["python", "scripts/generate_planar_point_sets.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "targets": {"rg2": "mean |x_i - x_mean|^2", "dipole": "sum_i q_i x_i, q = +1 (species 0), -1 (species 1)"},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "git_commit": git_commit(),
    }
    json_path = args.output.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({args.n_sets} sets of {args.n_points} points) and {json_path}")
    return args.output


if __name__ == "__main__":
    main()
