"""Distillation study (issue 20 part 4): does a model pretrained on many cheap teacher labels
and fine-tuned on 25 expensive ones beat both the teacher and a model trained on the 25
expensive frames alone? Errors are against the expensive method on a fixed test set.

``--system cu``: expensive = ASE's EMT; teacher = a Morse pair potential fitted with scipy to
EMT energies, forces and stresses of separate frames (so it obeys the Cauchy relation
C12 = C44, which EMT does not); frames = 2x2x2 conventional fcc cells (32 atoms) with a
random symmetric strain (Voigt components uniform in ±3 %) and Gaussian displacements
(sigma uniform in 0.02-0.15 Å; ``--rattle``; ``--unrattled N``: the first N of the 25
expensive frames pure strains). Also reports C11, C12, C44 (GPa) of each, at
each one's own equilibrium lattice constant (`equipot.properties.elastic_tensor`, clamped
ions: every atom of fcc is an inversion centre), and the Cauchy ratio C44 / C12 at 3.59 Å
(`cauchy_ratio`: 1 for any pair potential, 0.779 for EMT).

``--system ethanol``: expensive = GFN2-xTB; teacher = GFN1-xTB (tblite); frames = the
shipped 500 K ethanol MD (``shipped:ethanol``): frames 0-999 relabelled with GFN1 are the
teacher set, 25 frames drawn from 1000-1299 (GFN2 labels as shipped) the expensive set, the
last 200 (1300-1499, GFN2) the test set.

``--density-embedding``: the models get the embedded-density readout
(``model.density_embedding``): ``finetune`` gives it to the 25-frame model and adds it in the
fine-tunes of the plain pretrained model, ``all`` gives it to the pretrained model too (runs
``scratch_emb``, ``pretrained_emb``, ``VARIANT_emb`` / ``VARIANT_embp``).

The 25 expensive frames are split 20 for training and 5 for validation (model selection) in
every run. Rows: the teacher; ``scratch`` (trained on the 25 frames alone, as long as the
pretraining); ``pretrained`` (trained on the teacher frames, energies aligned to the
expensive reference); and one row per distillation variant (fine-tuned from the pretrained
model): ``multihead`` (replay through a teacher head), ``onehead`` (replay through the main
energy), ``noreplay`` (plain fine-tune). Every run writes into ``--output-dir`` and is
skipped when its model exists, so the study can be extended (``--train-only RUN...`` trains
some runs only, ``--report`` then reports on them). One thread, float32::

    OMP_NUM_THREADS=1 python scripts/distillation_study.py --system cu --output-dir distill_cu
    OMP_NUM_THREADS=1 python scripts/distillation_study.py --system ethanol --output-dir distill_ethanol
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.morse import MorsePotential
from scipy.optimize import least_squares, minimize_scalar

from equipot import load_model
from equipot.calculator import EquipotCalculator
from equipot.config import TrainConfig
from equipot.data.shipped import read_shipped_dataset
from equipot.properties import elastic_tensor
from equipot.train import fit, label_frames

MODEL = {"num_channels": 16, "num_layers": 2, "lmax": 1, "hidden_lmax": 1, "correlation": 2,
         "radial_hidden": 16, "num_radial_basis": 6, "readout_hidden": 16}
EMBEDDING = {"density_embedding": {"decay_rates": [1.0, 2.0, 3.0, 4.0], "hidden": 16}}
VARIANTS = {
    "multihead": {"teacher_head": "teacher", "replay_weight": 1.0},
    "onehead": {"teacher_head": None, "replay_weight": 1.0},
    "noreplay": {"teacher_head": None, "replay_weight": 0.0},
}


# ------------------------------------------------------------------------------- Cu
class ShiftedMorse(MorsePotential):
    """ASE's Morse pair potential (smoothly cut off between ``cutoff`` - 1 Å and ``cutoff``,
    in Å; ASE's own rcut1/rcut2 are in units of r0) plus a constant energy per atom
    ``offset`` (eV), to share EMT's reference."""

    def __init__(self, epsilon: float, r0: float, rho0: float, offset: float = 0.0, cutoff: float = 5.0):
        super().__init__(epsilon=epsilon, r0=r0, rho0=rho0, rcut1=(cutoff - 1.0) / r0, rcut2=cutoff / r0)
        self.offset = offset

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None, system_changes: list[str] = all_changes) -> None:
        super().calculate(atoms, properties or ["energy"], system_changes)
        self.results["energy"] += self.offset * len(self.atoms)
        self.results["free_energy"] = self.results["energy"]


def _morse_labels(pairs: tuple, n: int, volume: float, x: np.ndarray, cutoff: float) -> tuple:
    """Energy, forces, Voigt stress of `ShiftedMorse` with parameters ``x`` = (epsilon, r0,
    rho0, offset) from a fixed neighbor list ``pairs`` = (i, d, D) (ASE's formulas, vectorized)."""
    from ase.calculators.morse import fcut, fcut_d
    from ase.stress import full_3x3_to_voigt_6_stress

    epsilon, r0, rho0, offset = x
    i, d, D = pairs
    expf = np.exp(rho0 * (1.0 - d / r0))
    pair = epsilon * expf * (expf - 2.0)
    cut, dcut = fcut(d, cutoff - 1.0, cutoff), fcut_d(d, cutoff - 1.0, cutoff)
    de = (-2.0 * epsilon * rho0 / r0) * expf * (expf - 1.0) * cut + pair * dcut
    de_vec = de[:, None] * D / d[:, None]
    forces = np.stack([np.bincount(i, weights=de_vec[:, k], minlength=n) for k in range(3)], axis=1)
    stress = full_3x3_to_voigt_6_stress(0.5 * (D.T @ de_vec) / volume)
    return 0.5 * float((pair * cut).sum()) + offset * n, forces, stress


def cu_frames(n: int, seed: int, rattle: tuple[float, float] = (0.02, 0.15), unrattled: int = 0, repeat: int = 2) -> list[Atoms]:
    """Strained, rattled 32-atom fcc Cu cells (see the module docstring); the displacement
    sigma of each frame is uniform in ``rattle`` (Å). The first ``unrattled`` frames keep
    their atoms on the strained lattice (pure homogeneous strain: zero forces, and stresses
    that are the elastic response itself); the random stream is the same either way.
    ``repeat``: copies of the 4-atom cubic cell along each axis (2: 32 atoms)."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)
        voigt = rng.uniform(-0.03, 0.03, 6)
        strain = np.array([[voigt[0], voigt[5] / 2, voigt[4] / 2], [voigt[5] / 2, voigt[1], voigt[3] / 2],
                           [voigt[4] / 2, voigt[3] / 2, voigt[2]]])
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        displacements = rng.normal(scale=rng.uniform(*rattle), size=atoms.positions.shape)
        if index >= unrattled:
            atoms.positions += displacements
        frames.append(atoms)
    return frames


def fit_morse(frames: list[Atoms], cutoff: float) -> dict[str, float]:
    """Morse epsilon (eV), r0 (Å), rho0 and an energy offset (eV/atom) fitted to EMT
    energies per atom, forces and stresses by least squares (weights: 5 meV/atom, 0.1 eV/Å,
    2 meV/Å³)."""
    from ase.neighborlist import neighbor_list

    labelled = label_frames(frames, EMT())
    prepared = []
    for atoms in labelled:
        i, _, d, D = neighbor_list("ijdD", atoms, cutoff)
        labels = (atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress())
        prepared.append(((i, d, D), len(atoms), atoms.get_volume(), labels))

    def residuals(x: np.ndarray) -> np.ndarray:
        parts = []
        for pairs, n, volume, (energy, forces, stress) in prepared:
            e, f, s = _morse_labels(pairs, n, volume, x, cutoff)
            parts += [[(e - energy) / n / 0.005], ((f - forces) / 0.1 / np.sqrt(3 * n)).ravel(), (s - stress) / 0.002]
        return np.concatenate([np.ravel(p) for p in parts])

    result = least_squares(residuals, x0=[0.35, 2.55, 4.0, 0.0], bounds=([0.01, 2.0, 1.0, -5], [3.0, 3.2, 12.0, 5]))
    return dict(zip(("epsilon", "r0", "rho0", "offset"), map(float, result.x)))


def equilibrium_cell(calculator: Calculator) -> Atoms:
    """The 32-atom fcc Cu cell at the calculator's equilibrium lattice constant."""
    def energy(a: float) -> float:
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = calculator
        return atoms.get_potential_energy()

    a0 = minimize_scalar(energy, bounds=(3.3, 3.9), method="bounded", options={"xatol": 1e-5}).x
    return bulk("Cu", "fcc", a=a0, cubic=True).repeat(2)


def cu_data(folder: Path, n_teacher: int, cutoff: float, rattle: tuple[float, float], unrattled: int = 0,
            repeat: int = 2) -> dict:
    """The Morse teacher (fitted on 60 separate 32-atom frames) and the teacher, expensive
    and test frames (``repeat``: their cell size, `cu_frames`; the test frames are 32-atom
    cells whatever the others)."""
    morse_file = folder / "morse.json"
    if not morse_file.exists():
        morse_file.write_text(json.dumps(fit_morse(cu_frames(60, 100, rattle), cutoff), indent=1))
    morse = json.loads(morse_file.read_text())
    teacher = ShiftedMorse(**morse, cutoff=cutoff)
    files = {"teacher": folder / "teacher.xyz", "expensive": folder / "expensive.xyz", "test": folder / "test.xyz"}
    if not files["teacher"].exists():
        label_frames(cu_frames(n_teacher, 1, rattle, repeat=repeat), teacher, output=files["teacher"])
        label_frames(cu_frames(25, 2, rattle, unrattled, repeat=repeat), EMT(), output=files["expensive"])
        label_frames(cu_frames(100, 3, rattle), EMT(), output=files["test"])
    return {"files": files, "teacher": teacher, "reference": EMT(), "teacher_info": morse, "stress_weight": 1000.0}


# -------------------------------------------------------------------------- ethanol
def ethanol_data(folder: Path, n_teacher: int, cutoff: float, rattle: tuple[float, float]) -> dict:
    from tblite.ase import TBLite

    files = {"teacher": folder / "teacher.xyz", "expensive": folder / "expensive.xyz", "test": folder / "test.xyz"}
    frames = read_shipped_dataset("ethanol")
    gfn1 = TBLite(method="GFN1-xTB", verbosity=0)
    if not files["teacher"].exists():
        start = time.perf_counter()
        label_frames(frames[:n_teacher], gfn1, output=files["teacher"])
        print(f"labelled {n_teacher} frames with GFN1-xTB in {time.perf_counter() - start:.0f} s", flush=True)
        chosen = np.random.default_rng(2).choice(np.arange(1000, 1300), size=25, replace=False)
        ase.io.write(files["expensive"], [frames[i] for i in sorted(chosen)], format="extxyz")
        ase.io.write(files["test"], frames[1300:], format="extxyz")
    return {"files": files, "teacher": gfn1, "reference": None, "teacher_info": {"method": "GFN1-xTB"}, "stress_weight": 0.0}


# ---------------------------------------------------------------------------- runs
def train(folder: Path, name: str, train_file: Path, epochs: int, cutoff: float, stress_weight: float, seed: int,
          embedding: bool = False, **extra: object) -> Path:
    """Train (or reuse) one model (``embedding``: with the embedded-density readout,
    ``model.density_embedding``); returns its model file."""
    model_file = folder / name / "model.pt"
    if model_file.exists():
        return model_file
    config = {
        "data": {"train_file": str(train_file), "n_valid": 5 if "expensive" in train_file.name else 50},
        "model": {**MODEL, "cutoff": cutoff, **(EMBEDDING if embedding else {})},
        "loss": {"energy_weight": 100.0, "forces_weight": 10.0, "stress_weight": stress_weight},
        "optimizer": {"lr": 0.01}, "scheduler": {"name": "cosine", "min_lr": 1e-4},
        "max_epochs": epochs, "batch_size": 5, "seed": seed, "threads": 1,
        "output_dir": str(folder / name), "accelerator": "cpu", **extra,
    }
    start = time.perf_counter()
    fit(TrainConfig.model_validate(config))
    print(f"{name}: {epochs} epochs in {time.perf_counter() - start:.0f} s", flush=True)
    return model_file


def energy_offset(calculator: Calculator, frames: list[Atoms]) -> float:
    """Mean of (label - prediction) per atom over ``frames`` (eV/atom): the teacher's
    reference aligned to the expensive one on the 25 expensive frames (one composition in
    both studies, so a constant per atom is the least-squares E0 shift)."""
    shifts = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = calculator
        shifts.append((atoms.get_potential_energy() - copy.get_potential_energy()) / len(atoms))
    return float(np.mean(shifts))


def errors(calculator: Calculator, test: list[Atoms], offset: float = 0.0) -> dict[str, float]:
    """Energy MAE (meV/atom; predictions + ``offset`` eV/atom) and force MAE (meV/Å)
    against the test labels."""
    de, df = [], []
    for atoms in test:
        copy = atoms.copy()
        copy.calc = calculator
        de.append(abs(copy.get_potential_energy() / len(atoms) + offset - atoms.get_potential_energy() / len(atoms)))
        df.append(np.abs(copy.get_forces() - atoms.get_forces()).ravel())
    return {"energy_mae_meV_per_atom": 1000 * float(np.mean(de)), "forces_mae_meV_per_A": 1000 * float(np.mean(np.concatenate(df)))}


def cauchy_ratio(calculator: Calculator, a: float = 3.59, h: float = 2e-3) -> float:
    """C44 / C12 from second differences of the energy of the fcc cell at lattice constant
    ``a`` (Å) in the Lagrangian strain eta (cell deformed by sqrt(I + 2 eta)), step ``h``:
    ``d2E/d eta12^2 / (4 d2E/d eta11 d eta22)`` with eta12 = eta21. Exactly 1 for every pair
    potential at any lattice constant (no pressure correction needed); EMT: 0.779."""
    from scipy.linalg import sqrtm

    def energy(**components: float) -> float:
        eta = np.zeros((3, 3))
        for name, value in components.items():
            i, j = int(name[1]) - 1, int(name[2]) - 1
            eta[i, j] = eta[j, i] = value
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.set_cell(atoms.cell.array @ np.real(sqrtm(np.eye(3) + 2 * eta)).T, scale_atoms=True)
        atoms.calc = calculator
        return atoms.get_potential_energy()

    mixed = (energy(e11=h, e22=h) - energy(e11=h, e22=-h) - energy(e11=-h, e22=h) + energy(e11=-h, e22=-h)) / (4 * h * h)
    return float((energy(e12=h) - 2 * energy() + energy(e12=-h)) / (h * h) / (4 * mixed))


def cubic_constants(calculator: Calculator) -> dict[str, float]:
    result = elastic_tensor(calculator, equilibrium_cell(calculator), strain=0.005, stress_tolerance=1.0)
    return {**result.cubic(), "a0": float(np.cbrt(equilibrium_cell(calculator).get_volume() / 32) * 4 ** (1 / 3)),
            "cauchy_ratio": cauchy_ratio(calculator)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=("cu", "ethanol"), required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--n-teacher", type=int, default=None, help="teacher frames (cu: 600, ethanol: 1000)")
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--scratch-epochs", type=int, default=200, help="epochs of the 25-frame model (20 training frames)")
    parser.add_argument("--finetune-epochs", type=int, default=60)
    parser.add_argument("--finetune-lr", type=float, default=0.003,
                        help="initial learning rate of the fine-tunes (cosine decay to 1e-4; the 25-frame model's is 0.01)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rattle", type=float, nargs=2, default=(0.02, 0.15), metavar=("LOW", "HIGH"),
                        help="cu: range (Å) of the displacement sigma of the frames")
    parser.add_argument("--unrattled", type=int, default=0, metavar="N",
                        help="cu: of the 25 expensive (EMT) frames, the first N are strained but not rattled")
    parser.add_argument("--train-only", nargs="+", default=None, choices=["scratch", "pretrained", *VARIANTS],
                        help="train these runs only and skip the report (to run the stages as parallel processes)")
    parser.add_argument("--report", action="store_true",
                        help="with --train-only: report on those runs (and the teacher and EMT) all the same")
    parser.add_argument("--finetune-stress-weight", type=float, default=None,
                        help="stress weight of the fine-tunes (default: the system's, cu 1000); the runs are then "
                        "named VARIANT_sWEIGHT")
    parser.add_argument("--cell-repeat", type=int, default=2, choices=(1, 2),
                        help="cu: teacher and expensive frames of 4 (1) or 32 (2) atoms; test frames are always 32")
    parser.add_argument("--density-embedding", choices=("none", "finetune", "all"), default="none",
                        help="the embedded-density readout (model.density_embedding): 'finetune' gives it to the "
                        "25-frame model (scratch_emb) and adds it in the fine-tunes (VARIANT_emb) of the plain "
                        "pretrained model; 'all' gives it to the pretrained model too (pretrained_emb, VARIANT_embp)")
    args = parser.parse_args()
    if not 0 <= args.unrattled <= 25 or (args.unrattled and args.system != "cu"):
        parser.error(f"--unrattled is a count of the 25 expensive Cu frames (0-25) and takes --system cu; got {args.unrattled}")
    torch.set_num_threads(1)
    folder = args.output_dir
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = 5.0 if args.system == "cu" else 4.0
    n_teacher = args.n_teacher or (600 if args.system == "cu" else 1000)
    if args.system == "cu":
        data = cu_data(folder, n_teacher, cutoff, tuple(args.rattle), args.unrattled, args.cell_repeat)
    else:
        data = ethanol_data(folder, n_teacher, cutoff, tuple(args.rattle))
    files, sw = data["files"], data["stress_weight"]
    runs = args.train_only or ["scratch", "pretrained", *args.variants]
    embedding = args.density_embedding
    suffix = {"none": "", "finetune": "_emb", "all": "_embp"}[embedding]
    pretrained_name = "pretrained_emb" if embedding == "all" else "pretrained"
    models = {}
    for name in ("scratch", "pretrained"):
        if name in runs:
            train_file, epochs = (files["expensive"], args.scratch_epochs) if name == "scratch" else (files["teacher"], args.pretrain_epochs)
            with_term = embedding != "none" and (name == "scratch" or embedding == "all")
            run_name = {"scratch": "scratch_emb" if with_term else "scratch", "pretrained": pretrained_name}[name]
            models[run_name] = train(folder, run_name, train_file, epochs, cutoff, sw, args.seed, embedding=with_term)
    for variant in [run for run in runs if run in VARIANTS]:
        settings = VARIANTS[variant]
        distillation = {"replay_file": str(files["teacher"]), "replay_batch_size": 5, **settings}
        fsw = sw if args.finetune_stress_weight is None else args.finetune_stress_weight
        name = variant + suffix if args.finetune_stress_weight is None else f"{variant}{suffix}_s{args.finetune_stress_weight:g}"
        models[name] = train(folder, name, files["expensive"], args.finetune_epochs, cutoff, fsw, args.seed,
                                finetune_from=str(folder / pretrained_name / "model.pt"),
                                model=EMBEDDING if embedding == "finetune" else {},
                                distillation=distillation, optimizer={"lr": args.finetune_lr})
    if args.train_only and not args.report:
        return
    test = ase.io.read(files["test"], ":")
    teacher_offset = energy_offset(data["teacher"], ase.io.read(files["expensive"], ":"))
    rows = {"teacher": errors(data["teacher"], test, teacher_offset)}
    calculators: dict[str, Calculator] = {"teacher": data["teacher"]}
    finetuned = [n for n in models if not n.startswith(("scratch", "pretrained"))]
    for name, path in models.items():
        model = load_model(path, dtype=torch.float64)
        if name.startswith("pretrained") and finetuned:  # on the expensive reference: the offsets the fine-tunes fitted
            offsets = load_model(models[finetuned[0]]).metadata["distillation"]["reference_offsets_eV"]
            model.set_normalization(atomic_energies={int(z): float(e) + offsets[s] for z, s, e in zip(
                model.config.atomic_numbers, model.species, model.atomic_energies.tolist())})
        calculators[name] = EquipotCalculator(model)
        rows[name] = errors(calculators[name], test)
    if args.system == "cu":
        calculators["EMT"] = data["reference"]
        for name, calculator in calculators.items():
            rows.setdefault(name, {}).update(cubic_constants(calculator))
    summary = {"system": args.system, "n_teacher": n_teacher, "n_test": len(test), "teacher": data["teacher_info"], "teacher_offset_eV_per_atom": teacher_offset,
               "epochs": {"pretrain": args.pretrain_epochs, "scratch": args.scratch_epochs, "finetune": args.finetune_epochs},
               "rows": rows}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    keys = sorted({k for row in rows.values() for k in row}, key=["energy_mae_meV_per_atom", "forces_mae_meV_per_A", "C11", "C12", "C44", "a0", "cauchy_ratio"].index)
    print("| model | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[k]:.4g}" if k in row else "" for k in keys) + " |")


if __name__ == "__main__":
    main()
