"""Inductor options of compiled inference, compared in one process.

Each variant is the same trained model's `CompiledGradients` compiled with its own
inductor config patches. Blocks of calls alternate between the variants, so the
machine's slow and fast spells hit all of them; the figures are the median block and,
per variant, the median over blocks of the first variant's block time over its own.
Compilation is not timed. A variant's ``"_dense_linear"`` key (not an inductor option)
swaps in `DenseIrrepsLinear` maps (`use_dense_linears`) in its copy of the model (default: true, as in
`EquivariantPotential.compiled`). Example (run I of benchmarks/README.md)::

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/bench_compile_options.py \\
        --model benchmarks/results/accuracy/ethanol/equipot-tiny-r16/run/model.pt \\
        --structure benchmarks/results/data/ethanol_test.xyz@0 \\
        'unfrozen={}' 'frozen={"freezing": true, "cpp.weight_prepack": false}'

(Run I compiled with ``standalone_compile``, which also took ``"cpp_wrapper": true``;
since run J the variants go through AOTInductor, always C++.)
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import statistics
import time

import ase.io
import torch

from bench_inference import alternating_durations  # benchmarks/ is on the path when run as a script

import equipot
from equipot.inference.compiled import CompiledGradients
from equipot.nn import use_dense_linears


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="name=JSON inductor config patches; the first is the reference")
    parser.add_argument("--model", required=True)
    parser.add_argument("--structure", required=True, help="file@index (ASE)")
    parser.add_argument("--supercell", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--calls", type=int, default=300, help="calls per block")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    path, _, index = args.structure.rpartition("@")
    atoms = ase.io.read(path, int(index or 0))
    if args.supercell > 1:
        atoms = atoms.repeat((args.supercell,) * 3)
    model = equipot.load_model(args.model).converted(torch.float32).eval().requires_grad_(False)
    graph = equipot.graph_from_atoms(atoms, model.cutoff, dtype=torch.float32)

    variants: dict[str, CompiledGradients] = {}
    reference_forces = None
    for spec in args.variants:
        name, _, options = spec.partition("=")
        options = json.loads(options)
        variant_model = copy.deepcopy(model)
        use_dense_linears(variant_model, bool(options.pop("_dense_linear", True)))
        variants[name] = CompiledGradients(variant_model.atomic_energies_of, variant_model.species_indices, options=options)
        start = time.perf_counter()
        forces = variants[name](graph).forces
        difference = 0.0 if reference_forces is None else float((forces - reference_forces).abs().max())
        reference_forces = forces if reference_forces is None else reference_forces
        print(f"{name}: compiled in {time.perf_counter() - start:.1f} s, max |dF| from the first {difference:.2e} eV/Å")

    calls = {name: functools.partial(compiled, graph) for name, compiled in variants.items()}
    block_seconds = alternating_durations(calls, args.blocks, warmup=0, calls_per_block=args.calls)
    block_ms = {name: [1e3 * seconds for seconds in values] for name, values in block_seconds.items()}
    first = next(iter(variants))
    for name, values in block_ms.items():
        speedup = statistics.median(a / b for a, b in zip(block_ms[first], values))
        print(f"{name:12s} median block {statistics.median(values):.4f} ms   speed-up over {first}: {speedup:.3f}")


if __name__ == "__main__":
    main()
