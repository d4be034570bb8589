"""Learning curves of a training run, stamped the same way for every library (stdlib only).

A `CurveRecorder` polls the validation records a library writes after each epoch (its
metrics file) from a background thread and stamps each new record, when it first appears,
with the wall-clock seconds since training was launched and the CPU seconds the training
process had used by then. Each runner passes a reader for its library's file:

- equipot: ``metrics.csv`` (``valid_forces_mae_meV_per_A``; epochs 1-based, fractional for a
  run stopped inside an epoch),
- MACE: ``results/<name>_run-<seed>_train.txt`` (JSON lines, ``mode: eval``, ``mae_f`` in eV/Å),
- NequIP: Lightning's CSV log (``val0_epoch/forces_mae`` in eV/Å).

A row of the curve: ``{"epoch", "wall_s", "cpu_s", "valid_forces_mae"}`` (meV/Å; ``epoch``:
epochs finished, MACE's and Lightning's 0-based counters plus one). The
stamp is at most one polling interval (1 s) late, for every library alike.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: one validation record: (epoch, validation force MAE in meV/Å)
Record = tuple[float, float]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and of its children it has waited for
    (``/proc/<pid>/stat``); 0.0 once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # after the command name: state is field 3, utime..cstime are fields 14..17
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class ChildrenCpu:
    """CPU seconds of this process's children: those it has waited for (``RUSAGE_CHILDREN``),
    plus the running one whose ``pid`` is set (from ``/proc``; gone once waited for)."""

    def __init__(self) -> None:
        self.pid: int | None = None

    def __call__(self) -> float:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime + (process_cpu_seconds(self.pid) if self.pid else 0.0)


def own_age_seconds() -> float:
    """Seconds since this process started (``/proc/self/stat`` start time against ``/proc/uptime``)."""
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    return float(Path("/proc/uptime").read_text().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process, all threads."""
    return time.process_time()


class CurveRecorder:
    """Poll ``read_records`` every ``interval`` s in a thread; stamp each new epoch.

    Use as a context manager around the training; ``stop()`` takes a last reading, so a
    record written just before training ended is kept. Clocks start when the recorder is
    entered (the runner is about to launch the training process), unless the training runs
    in the runner's own process: then ``launched_s_ago`` (`own_age_seconds`) and
    ``cpu_baseline`` 0 count its start-up too, as a launched process's clocks do.
    """

    def __init__(self, read_records: Callable[[], list[Record]], cpu_seconds: Callable[[], float],
                 interval: float = 1.0, launched_s_ago: float = 0.0, cpu_baseline: float | None = None):
        self.read_records, self.cpu_seconds, self.interval = read_records, cpu_seconds, interval
        self.rows: list[dict[str, float]] = []
        self._seen: set[float] = set()
        self._launched_s_ago = launched_s_ago
        self._started = time.monotonic() - launched_s_ago
        self._cpu_at_start = cpu_seconds() if cpu_baseline is None else cpu_baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        try:
            records = self.read_records()
        except (OSError, ValueError, KeyError):  # a file being written: read it next time
            return
        wall, cpu = time.monotonic() - self._started, self.cpu_seconds() - self._cpu_at_start
        for epoch, mae in records:
            if epoch not in self._seen:
                self._seen.add(epoch)
                self.rows.append({"epoch": epoch, "wall_s": round(wall, 2), "cpu_s": round(max(cpu, 0.0), 2),
                                  "valid_forces_mae": mae})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def __enter__(self) -> CurveRecorder:
        self._started = time.monotonic() - self._launched_s_ago
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.poll()


def equipot_records(metrics_csv: Path) -> list[Record]:
    """(epoch, valid force MAE meV/Å) from equipot's ``metrics.csv``."""
    if not metrics_csv.is_file():
        return []
    with open(metrics_csv, newline="") as stream:
        return [(float(row["epoch"]), float(row["valid_forces_mae_meV_per_A"])) for row in csv.DictReader(stream)]


def mace_records(train_txt: Path) -> list[Record]:
    """(epoch, valid force MAE meV/Å) from MACE's JSON-lines metrics log (eV/Å there)."""
    if not train_txt.is_file():
        return []
    records = []
    for line in train_txt.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if record.get("mode") == "eval" and record.get("epoch") is not None and record.get("mae_f") is not None:
            records.append((float(record["epoch"]) + 1, 1000.0 * float(record["mae_f"])))  # 0-based there
    return records


def lightning_csv_records(log_dir: Path, column: str = "val0_epoch/forces_mae") -> list[Record]:
    """(epoch, valid force MAE meV/Å) from Lightning CSV logs under ``log_dir`` (eV/Å there)."""
    records = []
    for path in sorted(log_dir.glob("**/metrics.csv")):
        with open(path, newline="") as stream:
            for row in csv.DictReader(stream):
                if row.get(column) and row.get("epoch"):
                    records.append((float(row["epoch"]) + 1, 1000.0 * float(row[column])))  # 0-based there
    return records
