"""Validate second-order properties of trained models against their reference methods.

The same workflow code of ``equipot.properties`` drives the model and the reference:

- Cu (reference: ASE's EMT): equilibrium lattice constant (energy minimized over a), the
  relaxed-ion elastic constants C11, C12, C44 and moduli (central differences of the
  stress, strain 0.005, ions relaxed with BFGS to 1e-4 eV/Å), and phonon frequencies at
  X and L (phonopy, 4x4x4 primitive supercell, 0.01 Å displacements; X and L are
  commensurate with it). For a model, also the phonons from its exact Hessian.
- ethanol (reference: GFN2-xTB through tblite): each relaxed with its own calculator
  (BFGS, fmax 1e-4 eV/Å, from ``ase.build.molecule("CH3CH2OH")``), then harmonic
  frequencies (the model's exact Hessian; central differences of xTB forces with
  0.005 Å steps, cross-checked against ``ase.vibrations.Vibrations``). The 21 internal
  modes are compared in ascending order; their mean absolute deviation is reported.

Without model files only the reference numbers are computed::

    OMP_NUM_THREADS=1 python scripts/validate_properties.py --output validation.json
    python scripts/validate_properties.py --cu-model cu.pt --ethanol-model ethanol.pt
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.optimize import BFGS
from ase.vibrations import Vibrations
from rich.console import Console
from rich.table import Table
from scipy.optimize import minimize_scalar

from equipot import load_model
from equipot.properties import EnergySource, as_calculator, elastic_tensor, phonons, vibrations

console = Console()
SUPERCELL = (4, 4, 4)
XTB_DELTA = 0.005  # Å
XTB_ACCURACY = 0.01  # tblite SCF accuracy, as for the shipped labels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cu-model", type=Path, help="model trained on the shipped Cu EMT data")
    parser.add_argument("--ethanol-model", type=Path, help="model trained on the shipped ethanol xTB data")
    parser.add_argument("--output", type=Path, default=Path("validation_properties.json"), help="JSON results")
    parser.add_argument("--skip-xtb", action="store_true", help="skip the ethanol/GFN2-xTB part")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------ Cu
def lattice_constant(source: EnergySource) -> float:
    """fcc lattice constant (Å) minimizing the energy of the primitive cell."""
    calculator = as_calculator(source)

    def energy(a: float) -> float:
        atoms = bulk("Cu", a=a)
        atoms.calc = calculator
        return atoms.get_potential_energy()

    return float(minimize_scalar(energy, bounds=(3.3, 3.9), method="bounded", options={"xatol": 1e-7}).x)


def copper_properties(source: EnergySource) -> dict:
    start = time.perf_counter()
    a = lattice_constant(source)
    elastic = elastic_tensor(source, bulk("Cu", a=a, cubic=True), relax_ions=True, fmax=1e-4)
    phonon = phonons(source, bulk("Cu", a=a), supercell=SUPERCELL)
    gamma, x, l_point = phonon.frequencies_at(["G", "X", "L"])
    result = {
        "lattice_constant_A": a,
        **elastic.cubic(),
        "moduli_GPa": elastic.moduli,
        "elastic_max_asymmetry_GPa": elastic.max_asymmetry,
        "elastic_matrix_GPa": elastic.matrix.tolist(),
        "X_THz": x.tolist(),
        "L_THz": l_point.tolist(),
        "max_abs_gamma_THz": float(np.abs(gamma).max()),
    }
    if not isinstance(source, EMT):
        exact = phonons(source, bulk("Cu", a=a), supercell=SUPERCELL, exact_hessian=True)
        result["X_THz_exact_hessian"], result["L_THz_exact_hessian"] = (v.tolist() for v in exact.frequencies_at(["X", "L"]))
    result["wall_time_s"] = time.perf_counter() - start
    return result


def copper_rows(data: dict) -> list[tuple[str, float]]:
    rows = [("a (Å)", data["lattice_constant_A"])]
    rows += [(f"{name} (GPa)", data[name]) for name in ("C11", "C12", "C44")]
    rows += [("B Hill (GPa)", data["moduli_GPa"]["bulk_hill"]), ("G Hill (GPa)", data["moduli_GPa"]["shear_hill"])]
    for point in ("X", "L"):
        rows += [(f"{point} TA (THz)", data[f"{point}_THz"][0]), (f"{point} LA (THz)", data[f"{point}_THz"][2])]
    return rows


# ------------------------------------------------------------------------- ethanol
def relaxed_ethanol(source: EnergySource) -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.calc = as_calculator(source)
    if not BFGS(atoms, logfile=None).run(fmax=1e-4, steps=2000):
        console.print("[yellow]warning:[/] ethanol relaxation did not converge")
    return atoms


def ethanol_frequencies(source: EnergySource, delta: float | None) -> dict:
    start = time.perf_counter()
    atoms = relaxed_ethanol(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = vibrations(source, atoms, delta=delta)
    return {
        "frequencies_cm": result.frequencies_cm.tolist(),
        "internal_frequencies_cm": result.internal_frequencies_cm.tolist(),
        "n_zero_found": result.n_zero_found,
        "n_imaginary": result.n_imaginary,
        "hessian_method": result.hessian_method,
        "warnings": [str(w.message) for w in caught],
        "positions_A": atoms.positions.tolist(),
        "wall_time_s": time.perf_counter() - start,
    }


def ase_vibrations_check(source: EnergySource, atoms_positions: list, delta: float) -> float:
    """Largest |ours - ase.vibrations| (cm^-1) over the internal modes, same structure and step."""
    atoms = molecule("CH3CH2OH")
    atoms.positions = np.array(atoms_positions)
    atoms.calc = as_calculator(source)
    with tempfile.TemporaryDirectory() as folder:
        reference = Vibrations(atoms, name=str(Path(folder) / "vib"), delta=delta, nfree=2)
        reference.run()
        values = reference.get_frequencies()
    signed = np.sort(np.real(values) - np.imag(values))
    ours = np.sort(vibrations(source, atoms, delta=delta).frequencies_cm)
    return float(np.abs(ours - signed)[6:].max())


# --------------------------------------------------------------------------- report
def comparison_table(title: str, rows_model: list | None, rows_reference: list, reference_name: str) -> Table:
    table = Table(title=title)
    for column in ("quantity", reference_name, "model", "deviation"):
        table.add_column(column, justify="right")
    for index, (name, value) in enumerate(rows_reference):
        if rows_model is None:
            table.add_row(name, f"{value:.3f}", "-", "-")
        else:
            model_value = rows_model[index][1]
            table.add_row(name, f"{value:.3f}", f"{model_value:.3f}", f"{100 * (model_value - value) / value:+.1f} %")
    return table


def provenance() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    packages = ("equipot", "ase", "phonopy", "torch", "numpy", "tblite")
    versions = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is recorded, not fatal
            versions[name] = None
    return {"git_commit": commit, "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "versions": versions, "command": " ".join(sys.argv)}


def guarded(report: dict, key: str, compute: Callable[[], dict]) -> dict | None:
    """``report[key] = compute()``; a model that fails (e.g. atoms collapse during its
    relaxation) is recorded as ``{"error": ...}`` instead of stopping the validation."""
    try:
        report[key] = compute()
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as error:
        console.print(f"[red]{key} failed:[/] {error}")
        report[key] = {"error": f"{type(error).__name__}: {error}"}
        return None
    return report[key]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    report: dict = {"provenance": provenance(), "settings": {"supercell": SUPERCELL, "xtb_delta_A": XTB_DELTA,
                                                             "xtb_accuracy": XTB_ACCURACY}}
    report["cu_emt"] = copper_properties(EMT())
    cu_model = None
    if args.cu_model is not None:
        cu_model = guarded(report, "cu_model", lambda: copper_properties(load_model(args.cu_model, dtype=torch.float64)))
    console.print(comparison_table("Cu: relaxed-ion elastic constants and phonons",
                                   copper_rows(cu_model) if cu_model else None, copper_rows(report["cu_emt"]), "EMT"))
    if not args.skip_xtb:
        from tblite.ase import TBLite

        xtb = TBLite(method="GFN2-xTB", accuracy=XTB_ACCURACY, verbosity=0)
        report["ethanol_xtb"] = reference = ethanol_frequencies(xtb, XTB_DELTA)
        reference["max_deviation_from_ase_vibrations_cm"] = ase_vibrations_check(xtb, reference["positions_A"], XTB_DELTA)
        rows_reference = [(f"mode {i}", f) for i, f in enumerate(reference["internal_frequencies_cm"])]
        rows_model = None
        model = None
        if args.ethanol_model is not None:
            ethanol_model = load_model(args.ethanol_model, dtype=torch.float64)
            model = guarded(report, "ethanol_model", lambda: ethanol_frequencies(ethanol_model, None))
        if model is not None:
            rows_model = [(f"mode {i}", f) for i, f in enumerate(model["internal_frequencies_cm"])]
            deviations = np.array(model["internal_frequencies_cm"]) - np.array(reference["internal_frequencies_cm"])
            report["ethanol_mad_cm"] = float(np.abs(deviations).mean())
            report["ethanol_max_abs_deviation_cm"] = float(np.abs(deviations).max())
        title = "ethanol: internal harmonic frequencies (cm^-1)"
        console.print(comparison_table(title, rows_model, rows_reference, "GFN2-xTB"))
        if "ethanol_mad_cm" in report:
            console.print(f"mean absolute deviation: {report['ethanol_mad_cm']:.1f} cm^-1")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    console.print(f"wrote {args.output}")
    return report


if __name__ == "__main__":
    main()
