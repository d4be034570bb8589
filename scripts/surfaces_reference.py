"""Surface energies, anisotropy and Wulff shape of fcc Cu with ASE's EMT (or a model file),
through the same `equipot.properties.surface_energies` code the ``equipot surfaces``
command runs. Writes a JSON table and the Wulff PNG.

    OMP_NUM_THREADS=1 python scripts/surfaces_reference.py --output docs/figures/wulff_cu_emt.png
    OMP_NUM_THREADS=1 python scripts/surfaces_reference.py --model cu_model.pt --output wulff_cu_model.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from equipot.properties.surfaces import miller_label, plot_wulff, surface_energies


def lattice_constant(calculator) -> float:
    """The fcc lattice constant minimizing the energy of ``calculator`` (Å)."""

    def energy(a: float) -> float:
        atoms = bulk("Cu", a=a)
        atoms.calc = calculator
        return atoms.get_potential_energy()

    return float(minimize_scalar(energy, bracket=(3.5, 3.6, 3.7), tol=1e-10).x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model file (default: ASE's EMT)")
    parser.add_argument("--miller", nargs="+", default=["100", "110", "111", "210", "211", "221"])
    parser.add_argument("--thickness", type=float, default=10.0)
    parser.add_argument("--output", type=Path, default=Path("wulff_cu_emt.png"))
    args = parser.parse_args()
    if args.model is None:
        source, name = EMT(), "EMT"
    else:
        import torch

        from equipot import EquipotCalculator, load_model

        model = load_model(args.model, dtype=torch.float64)
        source, name = model, args.model.name
    start = time.perf_counter()
    a = lattice_constant(source if args.model is None else EquipotCalculator(source))
    millers = [tuple(int(c) for c in text) for text in args.miller]
    result = surface_energies(source, bulk("Cu", a=a), millers, thickness=args.thickness)
    print(f"Cu with {name}: a = {a:.4f} Å, E_bulk = {result.bulk_energy_per_atom:.5f} eV/atom")
    print("| (hkl) | γ (J/m²) | γ (eV/Å²) | unrelaxed γ (J/m²) | γ/γ(111) | Wulff area | atoms | layers |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    fractions = result.area_fractions
    for item in result.surfaces:
        print(f"| ({miller_label(item.miller)}) | {item.gamma_J_m2:.4f} | {item.gamma_eV_A2:.5f} | "
              f"{item.unrelaxed_gamma_J_m2:.4f} | {result.anisotropy[item.miller]:.3f} | "
              f"{100 * fractions.get(item.miller, 0.0):.1f} % | {item.n_atoms} | {item.n_layers} |")
    plot_wulff(result, args.output, title=f"Cu, {name}")
    args.output.with_suffix(".json").write_text(json.dumps({"lattice_A": a, **result.to_dict()}, indent=2) + "\n")
    print(f"wrote {args.output} and {args.output.with_suffix('.json')} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
