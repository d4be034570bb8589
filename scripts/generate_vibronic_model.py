"""Reference data for the excited-state example: frames of a bent triatomic A-B-C with the
adiabatic energies, forces and non-adiabatic couplings of a two-state linear vibronic
coupling model with a conical intersection, written to an .npz with a provenance JSON.

    python scripts/generate_vibronic_model.py --n 1000 --output runs/extensions/vibronic.npz

The reference is `equipot.extensions.excited.LinearVibronicReference` (atoms O, C, N;
distances 1.2, 1.2, 2.0 Å at the reference; intersection seam at t = d_AB - d_BC shifted by
-0.133 Å and d_AC unchanged). Frames: Gaussian displacements of 0.06 Å, a quarter of them
within ~0.03 Å of the intersection, randomly rotated and moved. Arrays (eV, Å):
positions [n, 3, 3], numbers [3], energies [n, 2], forces [n, 2, 3, 3], coupling_vectors
<1|dH/dr|2> [n, 3, 3], couplings d_12 [n, 3, 3] (1/Å; each frame's sign arbitrary),
hamiltonian (diabatic) [n, 2, 2].
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from equipot.extensions.excited import LinearVibronicReference, sample_vibronic_frames
from provenance import git_commit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--near-intersection", type=float, default=0.25, help="fraction of frames near the intersection")
    parser.add_argument("--output", type=Path, default=Path("runs/extensions/vibronic.npz"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    reference = LinearVibronicReference()
    positions = sample_vibronic_frames(reference, args.n, args.near_intersection, seed=args.seed)
    states = reference.states(positions)
    n = args.n
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.output,
        positions=positions.numpy(),
        numbers=np.array([atomic_numbers[s] for s in reference.symbols]),
        energies=states.energies.detach().numpy(),
        forces=states.forces.reshape(2, n, 3, 3).permute(1, 0, 2, 3).numpy(),
        coupling_vectors=states.coupling_vectors[0].reshape(n, 3, 3).numpy(),
        couplings=states.couplings[0].reshape(n, 3, 3).numpy(),
        hamiltonian=states.hamiltonian.detach().numpy(),
    )
    record = {
        "dataset": args.output.name,
        "generator": "scripts/generate_vibronic_model.py",
        "command": " ".join(["python", "scripts/generate_vibronic_model.py", *(sys.argv[1:] if argv is None else argv)]),
        "units": {"positions": "Å", "energies": "eV", "forces": "eV/Å", "coupling_vectors": "eV/Å", "couplings": "1/Å"},
        "reference": {"class": "equipot.extensions.excited.LinearVibronicReference", **dataclasses.asdict(reference)},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "git_commit": git_commit(),
    }
    json_path = args.output.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({n} frames) and {json_path}")
    return args.output


if __name__ == "__main__":
    main()
