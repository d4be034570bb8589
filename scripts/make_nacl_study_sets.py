"""The data sets of the NaCl local-vs-hybrid study (docs/longrange.md, "Local vs hybrid on
NaCl"), made by ``generate_nacl_bmh.py`` in parts that run as parallel processes (each part
its own seed) and then concatenated.

Sets under ``--output-dir`` (each a gzipped extxyz with a provenance JSON beside it):

- ``strained/nacl_rocksalt.xyz.gz``: rocksalt 2x2x2 cells (64 atoms), Langevin MD at 300,
  600, 900 and 1200 K in cells compressed by 0, 4, 8 and 12 % (lattice constant), a frame
  every 20 steps, each a copy with a random strain of up to ±8 % per Voigt component;
  12 frames per temperature and compression, 192 in all;
- ``strained_hot/nacl_rocksalt.xyz.gz``: those 192 plus the same at 1500 and 1800 K, where
  the 64-atom cell is superheated (the Tosi–Fumi melting point is about 1064 K) and samples
  disordered environments with more or fewer unlike neighbours than rocksalt's six; 288 in all;
- ``cscl/nacl_cscl.xyz.gz``: CsCl-structure 3x3x3 cells (54 atoms) at 300–1200 K, ±2 %
  strains, 40 frames: no model trains on them;
- ``gap/nacl_rocksalt.xyz.gz``: 40 held-out uncompressed rocksalt frames at 300–1200 K, ±2 %
  strains, the rocksalt side of the CsCl − rocksalt energy difference.

One thread per part; 14 parts, about 40 s each on one core::

    OMP_NUM_THREADS=1 python scripts/make_nacl_study_sets.py --output-dir runs/nacl_sets --jobs 14

``--frames-per-run``, ``--side-frames-per-run``, ``--equilibrate`` and ``--interval`` scale
everything down for tests.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import ase.io
from provenance import write_dataset  # scripts/provenance.py

COMPRESSIONS = ("0", "-0.04", "-0.08", "-0.12")
COLD = ("300", "600", "900", "1200")
HOT = ("1500", "1800")


def part_arguments(args: argparse.Namespace) -> dict[str, list[tuple[str, list[str]]]]:
    """For each piece of a set, its folder name and the ``generate_nacl_bmh.py`` arguments
    (without ``--output-dir``). Seeds: 10+k strained, 20+k hot, 30+k CsCl, 40+k held-out."""
    md = ["--equilibrate", str(args.equilibrate), "--interval", str(args.interval)]
    rocksalt = ["--runs", "1", "--frames-per-run", str(args.frames_per_run), "--cscl-frames-per-run", "0",
                "--max-strain", "0.08", *md]
    side = str(args.side_frames_per_run)
    return {
        "strained": [(f"strained_p{k}", ["--temperatures", *COLD, "--compressions", c, "--seed", str(10 + k), *rocksalt])
                     for k, c in enumerate(COMPRESSIONS)],
        "hot": [(f"hot_p{k}", ["--temperatures", *HOT, "--compressions", c, "--seed", str(20 + k), *rocksalt])
                for k, c in enumerate(COMPRESSIONS)],
        "cscl": [(f"cscl_p{k}", ["--temperatures", *temperatures, "--runs", "1", "--frames-per-run", "0", "--cscl-runs", "2",
                                 "--cscl-frames-per-run", side, "--seed", str(30 + k), *md])
                 for k, temperatures in enumerate((COLD[:2], COLD[2:]))],
        "gap": [(f"gap_p{k}", ["--temperatures", t, "--runs", "2", "--frames-per-run", side, "--cscl-frames-per-run", "0",
                               "--seed", str(40 + k), *md])
                for k, t in enumerate(COLD)],
    }


def _run_part(argv: list[str]) -> None:
    import generate_nacl_bmh  # scripts/generate_nacl_bmh.py, on the path as this script's folder

    generate_nacl_bmh.main(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("runs/nacl_sets"))
    parser.add_argument("--jobs", type=int, default=1, help="parts run at once (processes, one thread each)")
    parser.add_argument("--frames-per-run", type=int, default=12, help="rocksalt frames per temperature and compression")
    parser.add_argument("--side-frames-per-run", type=int, default=5, help="frames per CsCl or held-out run")
    parser.add_argument("--equilibrate", type=int, default=100, help="MD steps before the first frame")
    parser.add_argument("--interval", type=int, default=20, help="MD steps between frames")
    args = parser.parse_args(argv)
    started = time.time()
    pieces = part_arguments(args)
    parts_dir = args.output_dir / "parts"
    jobs = [[*arguments, "--output-dir", str(parts_dir / name)] for group in pieces.values() for name, arguments in group]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            list(pool.map(_run_part, jobs))
    else:
        for job in jobs:
            _run_part(job)

    def frames(group: str, file: str) -> list:
        return [frame for name, _ in pieces[group] for frame in ase.io.read(parts_dir / name / file, index=":")]

    strained = frames("strained", "nacl_rocksalt.xyz.gz")
    sets = {
        "strained/nacl_rocksalt.xyz.gz": ("strained", strained),
        "strained_hot/nacl_rocksalt.xyz.gz": ("strained", "hot", strained + frames("hot", "nacl_rocksalt.xyz.gz")),
        "cscl/nacl_cscl.xyz.gz": ("cscl", frames("cscl", "nacl_cscl.xyz.gz")),
        "gap/nacl_rocksalt.xyz.gz": ("gap", frames("gap", "nacl_rocksalt.xyz.gz")),
    }
    command = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])])
    for path, (*groups, found) in sets.items():
        provenance = {
            "generator": "scripts/make_nacl_study_sets.py",
            "command": command,
            "parts": [{"folder": f"parts/{name}", "generate_nacl_bmh_arguments": arguments}
                      for group in groups for name, arguments in pieces[group]],
            "method": "Born-Mayer-Huggins short range (Tosi & Fumi 1964, NaCl) + Ewald Coulomb of formal charges +-1 e "
                      "(scripts/nacl_bmh.py); each part's own provenance JSON is in its folder",
        }
        written = write_dataset(found, args.output_dir / path, provenance, packages=("ase", "numpy", "torch", "torch-pme"))
        print(f"{path}: {len(found)} frames -> {written}")
    print(f"done in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
