"""Phonons through phonopy: force constants of a supercell from finite displacements
(any ASE calculator, phonopy's displacement machinery) or from the exact Hessian of an
equipot model; band structure along the standard path, DOS, PNG and data files.

The path is the standard one of the Bravais lattice of phonopy's primitive cell from ASE
(``Cell.bandpath``, Setyawan-Curtarolo, works offline; seekpath is not needed), e.g.
``GXWKGLUWLK,UX`` for fcc. Frequencies are in THz; q-points in reduced coordinates of
the primitive cell's reciprocal lattice.

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> result = phonons(EMT(), bulk("Cu", a=3.59), supercell=(3, 3, 3))  # doctest: +SKIP
    >>> result.frequencies_at(["X", "L"])                                  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.cell import Cell
from ase.dft.kpoints import parse_path_string
from phonopy import Phonopy
from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections
from phonopy.structure import cells as phonopy_cells
from phonopy.structure.atoms import PhonopyAtoms

from ..data import check_cell_volume
from ..models import Potential
from ._source import EnergySource, as_calculator, attach, check_atoms, is_model
from .figures import band_structure_plot, dos_plot
from .hessian import exact_hessian as _exact_hessian
from .stability import IMAGINARY_TOLERANCE_THZ, InstabilityWarning, imaginary_modes_message

__all__ = ["BandStructure", "PhononResult", "ase_atoms", "phonons", "phonopy_atoms"]

QPoint = str | Sequence[float]

#: checks a structure (with its calculator attached) the workflow evaluates, e.g.
#: ``UncertaintyMonitor.observe``: called with the structure and a label naming it
StructureCheck = Callable[[Atoms, str], None]


def phonopy_atoms(atoms: Atoms) -> PhonopyAtoms:
    """``atoms`` as phonopy's cell (masses kept)."""
    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=np.array(atoms.cell), scaled_positions=atoms.get_scaled_positions(),
        masses=atoms.get_masses(),
    )


def ase_atoms(cell: PhonopyAtoms) -> Atoms:
    """A phonopy cell as periodic ``ase.Atoms`` (same atom order)."""
    atoms = Atoms(symbols=cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
    atoms.set_masses(cell.masses)
    return atoms


@dataclass
class BandStructure:
    """Bands along the path, per continuous segment ``s``: ``distances[s]`` [n_q] (1/Å),
    ``frequencies[s]`` [n_q, n_branches] (THz), ``qpoints[s]`` [n_q, 3]; ``ticks`` and
    ``labels`` mark the special points."""

    distances: list[np.ndarray]
    frequencies: list[np.ndarray]
    qpoints: list[np.ndarray]
    ticks: list[float]
    labels: list[str]


@dataclass
class PhononResult:
    """A phonopy object with force constants, and the path of its primitive cell.

    ``method`` is ``"finite-displacements"`` or ``"exact-hessian"``; ``special_points``
    maps labels to reduced q-points; ``path`` is ASE's path string (``,`` separates jumps);
    ``messages`` the warnings of `phonons` (imaginary modes, see `check_stability`).
    """

    phonopy: Phonopy
    method: str
    special_points: dict[str, np.ndarray]
    path: str
    messages: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def check_stability(
        self, npoints: int = 21, mesh: Sequence[int] = (8, 8, 8), tolerance: float = IMAGINARY_TOLERANCE_THZ
    ) -> str | None:
        """None if no frequency is imaginary along the band path (``npoints`` per segment)
        and on a Γ-centred ``mesh``, else a message with the most negative frequency
        (THz) and its q-point (`imaginary_modes_message`: acoustic modes at Γ excluded)."""
        bands = self.band_structure(npoints)
        qpoints = [np.concatenate(bands.qpoints)]
        frequencies = [np.concatenate(bands.frequencies)]
        self.phonopy.run_mesh(list(mesh), is_gamma_center=True)
        qpoints.append(np.asarray(self.phonopy.mesh.qpoints))
        frequencies.append(np.asarray(self.phonopy.mesh.frequencies))
        return imaginary_modes_message(np.concatenate(qpoints), np.concatenate(frequencies), tolerance)

    def qpoint(self, point: QPoint) -> np.ndarray:
        """[3] reduced q-point of a label (``G``/``Γ``, ``X``, ``L``, ...) or of 3 numbers."""
        if isinstance(point, str):
            label = "G" if point in ("Γ", "Gamma") else point
            if label not in self.special_points:
                raise ValueError(f"unknown q-point label {point!r}; this lattice has {sorted(self.special_points)}")
            return np.asarray(self.special_points[label], dtype=np.float64)
        q = np.asarray(point, dtype=np.float64)
        if q.shape != (3,):
            raise ValueError(f"a q-point must be a label or 3 reduced coordinates, got shape {q.shape}")
        return q

    def frequencies_at(self, points: Sequence[QPoint]) -> np.ndarray:
        """[n_points, n_branches] frequencies (THz, ascending; imaginary as negative) at
        labels or reduced q-points."""
        qpoints = np.array([self.qpoint(point) for point in points])
        self.phonopy.run_qpoints(qpoints)
        return np.asarray(self.phonopy.qpoints.frequencies)

    def band_structure(self, npoints: int = 51) -> BandStructure:
        """Bands along ``self.path`` with ``npoints`` q-points per segment."""
        groups = parse_path_string(self.path)
        band_paths = [[self.special_points[label] for label in group] for group in groups]
        qpoints, connections = get_band_qpoints_and_path_connections(band_paths, npoints=npoints)
        labels = [label for group in groups for label in group]
        self.phonopy.run_band_structure(qpoints, path_connections=connections, labels=labels)
        bands = self.phonopy.band_structure
        distances = [np.asarray(d) for d in bands.distances]
        frequencies = [np.asarray(f) for f in bands.frequencies]
        ticks, tick_labels, segment = [], [], 0
        for group in groups:
            positions = [float(distances[segment][0])]
            positions += [float(distances[segment + k][-1]) for k in range(len(group) - 1)]
            segment += len(group) - 1
            for position, label in zip(positions, group):
                if ticks and abs(ticks[-1] - position) < 1e-9:  # a jump: "K|U"
                    tick_labels[-1] = f"{tick_labels[-1]}|{label}"
                else:
                    ticks.append(position)
                    tick_labels.append(label)
        return BandStructure(distances, frequencies, [np.asarray(q) for q in bands.qpoints], ticks, tick_labels)

    def dos(self, mesh: Sequence[int] = (20, 20, 20), sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Total DOS on a ``mesh``: frequencies [n] (THz) and states/THz per primitive cell
        (tetrahedron method, or Gaussian smearing ``sigma`` THz)."""
        self.phonopy.run_mesh(list(mesh), is_gamma_center=True)
        self.phonopy.run_total_dos(sigma=sigma)
        dos = self.phonopy.total_dos
        return np.asarray(dos.frequency_points), np.asarray(dos.dos)

    def write_files(
        self, out_dir: str | os.PathLike, npoints: int = 51, mesh: Sequence[int] = (20, 20, 20)
    ) -> dict[str, Path]:
        """``band.yaml`` (phonopy), ``band.csv``, ``dos.csv``, ``bands.png``, ``dos.png``
        and ``phonopy_params.yaml`` (structure and force constants) in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        bands = self.band_structure(npoints)
        files = {"band.yaml": out / "band.yaml", "band.csv": out / "band.csv", "dos.csv": out / "dos.csv"}
        self.phonopy.write_yaml_band_structure(filename=files["band.yaml"])
        _write_band_csv(bands, files["band.csv"])
        frequencies, dos = self.dos(mesh)
        header = "frequency_THz,dos_per_THz"
        np.savetxt(files["dos.csv"], np.column_stack([frequencies, dos]), delimiter=",", header=header, comments="")
        title = f"phonons ({self.method})"
        files["bands.png"] = band_structure_plot(
            bands.distances, bands.frequencies, bands.ticks, bands.labels, out / "bands.png", title=title
        )
        files["dos.png"] = dos_plot(frequencies, dos, out / "dos.png", title="phonon DOS")
        files["phonopy_params.yaml"] = out / "phonopy_params.yaml"
        self.phonopy.save(filename=files["phonopy_params.yaml"], settings={"force_constants": True})
        return files


def _write_band_csv(bands: BandStructure, path: Path) -> None:
    """One line per q-point: segment, distance (1/Å), reduced q, frequencies (THz)."""
    n_branches = bands.frequencies[0].shape[1]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["segment", "distance", "qx", "qy", "qz"] + [f"branch_{b}_THz" for b in range(n_branches)])
        for segment, (distances, qpoints, frequencies) in enumerate(zip(bands.distances, bands.qpoints, bands.frequencies)):
            for d, q, f in zip(distances, qpoints, frequencies):
                writer.writerow([segment, f"{d:.6f}", *(f"{x:.6f}" for x in q), *(f"{x:.6f}" for x in f)])


def _displaced_forces(phonon: Phonopy, source: EnergySource, check: StructureCheck | None,
                      checked: list[str]) -> np.ndarray:
    calculator = as_calculator(source)
    forces = []
    for index, cell in enumerate(phonon.supercells_with_displacements):
        displaced = attach(ase_atoms(cell), calculator)
        forces.append(displaced.get_forces().copy())
        if check is not None:
            checked.append(f"displaced supercell {index}")
            check(displaced, checked[-1])
    forces = np.array(forces)
    # remove the drift (sum of forces) of each displaced supercell, as phonopy's CLI does
    return forces - forces.mean(axis=1, keepdims=True)


def phonons(
    source: EnergySource,
    atoms: Atoms,
    supercell: Sequence[int] | np.ndarray = (3, 3, 3),
    displacement: float = 0.01,
    exact_hessian: bool = False,
    primitive_matrix: str | np.ndarray | None = "auto",
    symmetrize: bool = True,
    path: str | None = None,
    check: StructureCheck | None = None,
) -> PhononResult:
    """Force constants of ``atoms`` (a relaxed periodic cell) repeated by ``supercell``.

    By default phonopy generates the symmetry-reduced displacements (``displacement`` Å)
    and ``source`` (model or calculator) gives the forces; with ``exact_hessian=True``
    (model only) the force constants are the exact Hessian of the whole supercell.
    ``symmetrize`` imposes index permutation symmetry and the acoustic sum rule. ``path``
    overrides the standard path (ASE syntax, e.g. ``"GXWKGL"``). Imaginary modes along the
    path or on an 8x8x8 mesh (beyond the acoustic modes at Γ) warn with an
    `InstabilityWarning` naming the most negative frequency and its q-point.

    ``check`` (e.g. ``UncertaintyMonitor(...).observe``, which may raise
    `ExtrapolationError`) sees every structure whose forces are computed: each displaced
    supercell, or with ``exact_hessian`` the structure itself, once (the Hessian is exact
    at that one geometry). The result's ``checked`` names what it saw.
    """
    check_atoms(atoms)
    checked: list[str] = []
    if not atoms.pbc.all():
        raise ValueError("phonons need a periodic cell (atoms.pbc all True)")
    check_cell_volume(atoms.cell.array, "phonons", "phonons need")
    with warnings.catch_warnings():
        # "auto" is our choice, not a default inherited from phonopy v3
        warnings.simplefilter("ignore", getattr(phonopy_cells, "PrimitiveMatrixAutoDefaultWarning", UserWarning))
        phonon = Phonopy(phonopy_atoms(atoms), supercell_matrix=np.asarray(supercell), primitive_matrix=primitive_matrix)
    if exact_hessian:
        if not is_model(source):
            raise TypeError("exact_hessian=True needs an equipot model, not an ASE calculator")
        assert isinstance(source, Potential)
        if check is not None:
            checked.append("structure (exact Hessian: checked once)")
            check(attach(atoms, as_calculator(source)), checked[-1])
        cell = ase_atoms(phonon.supercell)
        n = len(cell)
        matrix = _exact_hessian(source, cell).matrix
        phonon.force_constants = matrix.reshape(n, 3, n, 3).transpose(0, 2, 1, 3).copy()
        method = "exact-hessian"
    else:
        phonon.generate_displacements(distance=displacement)
        phonon.forces = _displaced_forces(phonon, source, check, checked)
        phonon.produce_force_constants()
        method = "finite-displacements"
    if symmetrize:
        phonon.symmetrize_force_constants()
    bandpath = Cell(phonon.primitive.cell).bandpath(npoints=0)
    result = PhononResult(phonon, method, dict(bandpath.special_points), path or bandpath.path, checked=checked)
    unstable = result.check_stability()
    if unstable is not None:
        result.messages.append(unstable)
        warnings.warn(unstable, InstabilityWarning, stacklevel=2)
    return result
