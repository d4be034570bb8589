"""equipot and NequIP, both compiled, timed in one process with their calls alternating.

Separate processes (``compare.py inference``) meet this machine's slow and fast spells at
different times: the same compiled call of one molecule takes 0.5 ms for some seconds and
1.0 ms for the next ones (no page faults, context switches or stolen time in either). Here
blocks of calls of the two libraries alternate, so each spell hits both; the figure that
counts is the median over blocks of the per-block speed ratio.

It runs in NequIP's environment (its package loads NequIP's AOTInductor artifact) and
imports equipot from this checkout, taking packages NequIP's environment lacks from the
interpreter that runs equipot (``--equipot-site``, appended after NequIP's own)::

    OMP_NUM_THREADS=1 taskset -c 1 benchmarks/.venv-nequip/bin/python benchmarks/peers/interleaved.py \\
        --structure benchmarks/results/data/ethanol_test.xyz@0 \\
        --nequip-model benchmarks/results/accuracy/ethanol/nequip/best.ckpt \\
        --equipot-model benchmarks/results/accuracy/ethanol/equipot-tiny-r16/run/model.pt \\
        --blocks 40 --calls 300 --json benchmarks/results/interleaved/ethanol_1.json

NequIP's artifact is the one ``nequip_runner.py infer --compile`` made (compiled now if
missing); equipot's model is `equipot.inference.CompiledPotential`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _equipot_site() -> str:
    """site-packages of the interpreter on PATH outside this venv (the one equipot is installed in)."""
    import subprocess

    return subprocess.run(
        ["env", "-u", "VIRTUAL_ENV", "python3", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structure", required=True, help="file@index (ASE)")
    parser.add_argument("--supercell", type=int, default=1)
    parser.add_argument("--nequip-model", required=True)
    parser.add_argument("--equipot-model", required=True)
    parser.add_argument("--blocks", type=int, default=40, help="blocks of calls per library, alternating")
    parser.add_argument("--calls", type=int, default=300, help="calls per block (the block's median is kept)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--equipot-site", default=None, help="site-packages with equipot's dependencies")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.append(args.equipot_site or _equipot_site())  # after NequIP's own packages
    sys.path.insert(0, str(HERE.parent))  # benchmarks/, for bench_inference's timer

    import ase.io
    import torch

    torch.set_num_threads(args.threads)
    import nequip_runner
    from nequip.integrations.ase import NequIPCalculator

    from bench_inference import alternating_durations

    import equipot

    path, _, index = args.structure.rpartition("@")
    atoms = ase.io.read(path, int(index or 0))
    if args.supercell > 1:
        atoms = atoms.repeat((args.supercell,) * 3)

    artifact, _ = nequip_runner._compiled_model(args.nequip_model, atoms, args.threads)
    nequip_calculator = NequIPCalculator.from_compiled_model(str(artifact), device="cpu", chemical_species_to_atom_type_map=True)
    nequip_data = nequip_calculator.atoms_to_data(atoms)

    model = equipot.CompiledPotential(equipot.load_model(args.equipot_model))
    graph = equipot.graph_from_atoms(atoms, model.cutoff, dtype=torch.float32)

    calls = {
        "nequip": lambda: nequip_calculator.call_model(nequip_data),
        "equipot": lambda: model(graph, outputs={"energy", "forces"}, create_graph=False),
    }
    # the warm-up compiles equipot's model
    block_seconds = alternating_durations(calls, args.blocks, warmup=max(3, args.calls // 2), calls_per_block=args.calls)
    block_ms = {name: [1e3 * seconds for seconds in values] for name, values in block_seconds.items()}
    ratios = [n / e for n, e in zip(block_ms["nequip"], block_ms["equipot"])]
    result = {
        "structure": args.structure,
        "n_atoms": len(atoms),
        "threads": args.threads,
        "blocks": args.blocks,
        "calls_per_block": args.calls,
        "median_ms": {name: statistics.median(values) for name, values in block_ms.items()},
        "atom_steps_per_s": {name: len(atoms) / statistics.median(values) * 1e3 for name, values in block_ms.items()},
        "speed_ratio_equipot_over_nequip": statistics.median(ratios),
        "speed_ratio_quartiles": statistics.quantiles(ratios, n=4),
        "block_ms": block_ms,
    }
    for name in calls:
        print(f"{name:8s} median {result['median_ms'][name]:.3f} ms  ({result['atom_steps_per_s'][name]:.0f} atom-steps/s)")
    print(f"equipot / NequIP speed: median over blocks {result['speed_ratio_equipot_over_nequip']:.2f} "
          f"(quartiles {', '.join(f'{q:.2f}' for q in result['speed_ratio_quartiles'])})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
