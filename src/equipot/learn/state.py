"""The loop's own state between rounds: ``learn_state.json`` (written atomically) and the
per-round report ``learn_report.csv``."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic_files import atomic_write

__all__ = ["REPORT_COLUMNS", "LearnState", "read_report"]

REPORT_COLUMNS = (
    "round", "n_labelled", "new_labels", "n_explored", "n_flagged", "flagged_fraction",
    "n_selected", "n_quarantined", "test_forces_mae", "test_energy_per_atom_mae",
)


@dataclass
class LearnState:
    """``completed``: rounds finished; ``rows``: their report rows; ``current``: the round
    under way (its report so far and whether its selection is in the database);
    ``stopped``: why the run ended (``converged``, ``budget``), or None while it goes on."""

    run_id: str
    completed: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] | None = None
    stopped: str | None = None

    @staticmethod
    def path(output_dir: Path) -> Path:
        return output_dir / "learn_state.json"

    @classmethod
    def load(cls, output_dir: Path) -> LearnState | None:
        path = cls.path(output_dir)
        return cls(**json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None

    def save(self, output_dir: Path) -> None:
        state = json.dumps(asdict(self), indent=1).encode()
        atomic_write(self.path(output_dir), lambda stream: stream.write(state))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=REPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        report = text.getvalue().encode()
        atomic_write(output_dir / "learn_report.csv", lambda stream: stream.write(report))


def read_report(path: str | Path) -> list[dict[str, float]]:
    """The rows of a ``learn_report.csv`` as numbers (empty cells: NaN)."""
    with open(path, encoding="utf-8") as stream:
        return [{k: float(v) if v != "" else float("nan") for k, v in row.items()} for row in csv.DictReader(stream)]
