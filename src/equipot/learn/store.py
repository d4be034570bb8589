"""The store of an active-learning run: an ASE database (``ase.db.connect``; SQLite by
default, PostgreSQL by URL) holding every structure with its provenance.

Key-value pairs of each row: ``round`` (0 for the initial set), ``origin`` (``initial``,
``md:T=300K``), ``score`` (selection score; absent for the initial set), ``status``
(``pending``, ``labelled`` or ``quarantined``), ``labeller`` (name), ``run_id``; its
``data`` holds ``labeller_settings`` and, when quarantined, ``error``. Labelled rows carry
energy and forces as the atoms' results.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ase.db
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ..train.errors import RunInUseError
from ..train.run_files import RunLock

__all__ = ["LearnStore", "StoreLock", "StoreLockPaths"]

PENDING, LABELLED, QUARANTINED = "pending", "labelled", "quarantined"


@dataclass(frozen=True)
class StoreLockPaths:
    """Where `RunLock` keeps the lock of a database: ``<database>.learn-lock`` (not ``.lock``: ase.db locks that name itself; in the output folder for a URL)."""

    lock: Path


class StoreLock(RunLock):
    """`RunLock` on a database: a second run on it is refused with the holder's PID."""

    def __init__(self, database: str, output_dir: Path):
        path = Path(database + ".learn-lock") if "://" not in database else output_dir / "database.lock"
        super().__init__(StoreLockPaths(path))  # type: ignore[arg-type]
        self.database = database

    def __enter__(self) -> StoreLock:
        try:
            super().__enter__()
        except RunInUseError:
            holder = self.path.read_text(encoding="utf-8").strip() if self.path.exists() else ""
            raise RunInUseError(
                f"database {self.database} is in use by another equipot learn run ({holder or 'PID unknown'}); "
                "wait for it to finish or stop it, or use another database"
            ) from None
        return self


def new_run_id() -> str:
    """A fresh run identifier, e.g. ``run-3f9a0c1e77b2``.

    The prefix matters: ``ase.db`` refuses a string value that would parse as a number, and a bare
    12-digit hex string such as ``7813064e5467`` does.
    """
    return f"run-{uuid.uuid4().hex[:12]}"


class LearnStore:
    """Rows of one database, read and written by the loop."""

    def __init__(self, database: str, run_id: str):
        if _reads_as_number(run_id):
            raise ValueError(f"run id {run_id!r} would be stored as a number by ase.db; use new_run_id()")
        self.database = database
        self.run_id = run_id
        self.db = ase.db.connect(database)

    def count(self, **selection: Any) -> int:
        return self.db.count(**selection)

    def add(self, atoms: Atoms, round_index: int, origin: str, status: str, labeller: str,
            settings: dict[str, Any], score: float | None = None) -> int:
        """Insert ``atoms`` (with its results if labelled); returns the row id."""
        pairs: dict[str, Any] = {"round": round_index, "origin": origin, "status": status,
                                 "labeller": labeller, "run_id": self.run_id}
        if score is not None:
            pairs["score"] = float(score)
        return self.db.write(atoms, key_value_pairs=pairs, data={"labeller_settings": settings})

    def add_many(self, rows: list[tuple[Atoms, dict[str, Any]]]) -> list[int]:
        """Insert several rows in one transaction (all or none)."""
        with self.db:
            return [self.add(atoms, **keys) for atoms, keys in rows]

    def mark_labelled(self, row_id: int, energy: float, forces: np.ndarray) -> None:
        atoms = self.db.get_atoms(id=row_id)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        self.db.update(row_id, atoms=atoms, status=LABELLED)

    def quarantine(self, row_id: int, error: str) -> None:
        row = self.db.get(id=row_id)
        self.db.update(row_id, status=QUARANTINED, data={**dict(row.data), "error": error})

    def pending(self) -> list[tuple[int, Atoms]]:
        return [(row.id, row.toatoms()) for row in self.db.select(status=PENDING)]

    def labelled_atoms(self) -> Iterator[Atoms]:
        """Labelled structures (energy and forces as results), in insertion order."""
        for row in self.db.select(status=LABELLED, sort="id"):
            yield row.toatoms()

    def new_labels(self) -> int:
        """Structures labelled or tried by the loop (not the initial set)."""
        return self.db.count("round>0") - self.db.count(status=PENDING)


def database_location(database: str, base_dir: Path) -> str:
    """A file path relative to ``base_dir`` made absolute; URLs unchanged."""
    if "://" in database:
        return database
    path = Path(os.path.expanduser(database))
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
