"""Reading labelled structures from extxyz files and ASE databases, with errors that name
the file, the structure and the remedy.

Supported files, chosen by suffix:

- extended XYZ: ``.xyz``, ``.extxyz`` (optionally gzipped: ``.xyz.gz``, ``.extxyz.gz``)
- ASE SQLite databases: ``.db`` (read through :func:`ase.db.connect`)

`read_structure` reads one structure (for a simulation or a property) from any file ASE
reads and checks it (finite positions and cell, a proper cell where periodic).

Labels are left where :func:`equipot.data.read_label` finds them: ASE's extxyz reader puts
``energy``, ``forces``, ``stress`` (and other calculator properties such as ``dipole``)
into a ``SinglePointCalculator``, other keys into ``atoms.info`` / ``atoms.arrays``. For a
database row, the stored calculator results come through ``row.toatoms()``; the row's
``key_value_pairs`` go into ``atoms.info`` and its ``data`` entries into ``atoms.info``
and, when their leading dimension equals the number of atoms, also into ``atoms.arrays``
(the `LabelKeys` then decide whether a key is read per structure or per atom).
"""

from __future__ import annotations

import difflib
import gzip
import io
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from .atoms import LabelKeys, MissingLabelError, read_label
from .neighbors import check_structure

__all__ = [
    "DataFileError",
    "DataFileNotFoundError",
    "MissingLabelInFileError",
    "SUPPORTED_SUFFIXES",
    "read_structure",
    "read_structures",
]

EXTXYZ_SUFFIXES = (".xyz", ".extxyz", ".xyz.gz", ".extxyz.gz")
DB_SUFFIXES = (".db",)
SUPPORTED_SUFFIXES = EXTXYZ_SUFFIXES + DB_SUFFIXES
_NOT_LABELS = {"numbers", "positions"}  # always present in atoms.arrays; never labels


class DataFileError(ValueError):
    """A data file is missing, unreadable, malformed, empty, or lacks a required label."""


class DataFileNotFoundError(DataFileError, FileNotFoundError):
    """A data file does not exist."""


class MissingLabelInFileError(DataFileError, MissingLabelError):
    """A structure read from a file lacks a label that was required."""


def read_structures(
    path: str | Path,
    index: str | int | slice = ":",
    keys: LabelKeys | None = None,
    require: Sequence[str] = (),
    select: str | None = None,
) -> list[Atoms]:
    """Read the structures of an extxyz file or an ASE database.

    ``index`` picks structures as in :func:`ase.io.read` (``":"`` all, ``"-1"`` the last,
    ``"10:20"``, an int or a slice); for a database it applies to the rows matched by
    ``select`` (an :meth:`ase.db.core.Database.select` query such as ``"config=bulk"``,
    only allowed for ``.db`` files). ``require`` names targets (``"energy"``,
    ``"forces"``, or names of ``keys.graph_extra`` / ``keys.atom_extra``) that every
    structure must carry under the file key given by ``keys`` (default `LabelKeys()`).

    Returns a non-empty list of `ase.Atoms`, positions in Å. Raises
    `DataFileNotFoundError`, `DataFileError` (unsupported suffix, unreadable or
    malformed file, no structures) or `MissingLabelInFileError`.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise DataFileNotFoundError(
            f"data file {str(path)!r} {where}; check the path (relative paths start at "
            f"{str(Path.cwd())!r})"
        )
    if select is not None and suffix not in DB_SUFFIXES:
        raise DataFileError(
            f"{path}: a select query ({select!r}) only applies to ASE databases (.db); "
            "use index to pick structures from an extxyz file"
        )
    if suffix in DB_SUFFIXES:
        structures = _read_db(path, index, select)
    else:
        structures = _read_extxyz(path, index)
    if not structures:
        what = f" matching select={select!r}" if select is not None else ""
        what += f" at index={index!r}" if index != ":" else ""
        raise DataFileError(
            f"{path}: no structures{what} in the file; check that it is the right, "
            "non-empty file" + (" and the query" if what else "")
        )
    _check_labels(path, structures, keys or LabelKeys(), require)
    return structures


def read_structure(path: str | Path, index: int = -1) -> Atoms:
    """The frame ``index`` (default: the last) of any file ASE reads (extxyz, .traj, CIF,
    POSCAR, ...), without the stored calculator results: the starting point of a
    simulation or a property workflow.

    Raises `DataFileNotFoundError` for a missing file, `DataFileError` naming the file for
    one that is empty, truncated or unreadable or holds no atoms, and `StructureError`
    (`check_structure`) naming the file, the frame and the atoms for NaN or infinite
    positions or cell, or a singular cell where the structure is periodic.
    """
    path = Path(path)
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise DataFileNotFoundError(
            f"structure file {path} {where}; check the path (relative paths start at {str(Path.cwd())!r})"
        )
    try:
        atoms = ase.io.read(path, index=index)
    except Exception as error:  # ASE's readers raise many types; all mean "not a structure we can read"
        raise DataFileError(
            f"cannot read a structure from {path}: {type(error).__name__}: {error}; the file is empty, "
            "truncated or not in a format ASE reads (extxyz, .traj, CIF, POSCAR, ...): check or regenerate it"
        ) from error
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise DataFileError(f"{path} holds no atoms; check that it is the right, non-empty file")
    frame = "last frame" if index == -1 else f"frame {index}"
    check_structure(atoms.positions, atoms.cell.array, atoms.pbc, name=f"{path}, {frame}")
    atoms.calc = None
    return atoms


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise DataFileError(
        f"{path}: unsupported file type; equipot reads {', '.join(SUPPORTED_SUFFIXES)}. "
        "Convert the file with ase (ase convert in.ext out.extxyz)"
    )


def _read_extxyz(path: Path, index: str | int | slice) -> list[Atoms]:
    from ase.io import iread  # deferred: ase.io loads all of ASE's formats (start-up time)

    structures: list[Atoms] = []
    try:
        # decompressed once into memory: ASE's reader seeks back to each frame, and every
        # backward seek in a gzip stream decompresses from the start again (quadratic)
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt") as stream:
            text = io.StringIO(stream.read())
        for atoms in iread(text, index=index, format="extxyz"):
            structures.append(atoms)
    except Exception as error:  # ASE's parsers raise many types; all mean "bad file"
        where = f"structure {len(structures)}" if structures else "the file"
        if index != ":" and structures:
            where += f" of the selection index={index!r}"
        raise DataFileError(
            f"{path}: cannot read {where} as extended XYZ ({type(error).__name__}: {error}); "
            "the file is malformed, truncated or not text; check or regenerate it "
            "(ase.io.write(path, images, format='extxyz'))"
        ) from error
    return structures


def _read_db(path: Path, index: str | int | slice, select: str | None) -> list[Atoms]:
    import ase.db  # deferred: only database users pay for the import
    from ase.io.formats import string2index

    if path.stat().st_size == 0:  # sqlite would turn an empty file into a new database
        return []
    try:
        database = ase.db.connect(str(path), type="db", use_lock_file=False)
        rows = list(database.select(select) if select is not None else database.select())
    except Exception as error:  # sqlite3.DatabaseError, bad queries, ...
        query = f" with select={select!r}" if select is not None else ""
        raise DataFileError(
            f"{path}: cannot read the ASE database{query} ({type(error).__name__}: {error}); "
            "check that it is an ASE SQLite database and that the query is valid "
            "(e.g. 'config=bulk,natoms<10')"
        ) from error
    chosen = string2index(index) if isinstance(index, str) else index
    if not isinstance(chosen, slice):  # one row, as a slice so that out of range means none
        chosen = slice(chosen, (chosen + 1) or None)
    rows = rows[chosen]
    return [_row_to_atoms(row) for row in rows]


def _row_to_atoms(row) -> Atoms:  # row: ase.db.row.AtomsRow
    """``row.toatoms()`` with key-value pairs in ``info`` and data entries in ``info``/``arrays``."""
    atoms = row.toatoms()
    atoms.info.update(row.key_value_pairs)
    for key, value in row.data.items():
        atoms.info[key] = value
        array = np.asarray(value)
        if array.ndim >= 1 and array.shape[0] == len(atoms) and key not in _NOT_LABELS:
            atoms.arrays[key] = array
    return atoms


def _check_labels(path: Path, structures: list[Atoms], keys: LabelKeys, require: Sequence[str]) -> None:
    graph_keys, atom_keys = keys.graph_keys(), keys.atom_keys()
    for target in require:
        if target not in graph_keys and target not in atom_keys:
            raise ValueError(
                f"require names {target!r}, which the label keys do not read "
                f"(known: {sorted({**graph_keys, **atom_keys})}); add it to "
                "LabelKeys.graph_extra or LabelKeys.atom_extra"
            )
    for number, atoms in enumerate(structures):
        for target in require:
            per_atom = target in atom_keys
            key = atom_keys[target] if per_atom else graph_keys[target]
            if read_label(atoms, key, per_atom=per_atom) is None:
                raise MissingLabelInFileError(_missing_label_message(path, number, atoms, target, key))


def _missing_label_message(path: Path, number: int, atoms: Atoms, target: str, key: str) -> str:
    results = getattr(atoms.calc, "results", None) or {}
    present = sorted((set(atoms.info) | set(atoms.arrays) | set(results)) - _NOT_LABELS)
    by_lower = {name.lower(): name for name in present}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    hint = f"did you mean {by_lower[close[0]]!r}? " if close else ""
    return (
        f"{path}: structure {number} (0-based) has no label {key!r} (asked for {target!r}); "
        f"keys present: {present}. {hint}Set the right key in LabelKeys / the config, "
        "or remove the structure from the file"
    )
