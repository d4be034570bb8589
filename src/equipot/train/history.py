"""Per-epoch history of a run: ``metrics.csv``, ``learning_curve.png`` and a summary line.

Columns of ``metrics.csv`` (one row per epoch, errors in meV units as in
`equipot.evaluation.metrics`): ``epoch`` (1-based; fractional for a run
stopped inside an epoch by its time budget: epochs of training done), ``lr``, ``train_loss``, ``valid_loss``,
``valid_energy_per_atom_mae_meV_per_atom``, ``valid_energy_per_atom_rmse_meV_per_atom``,
``valid_forces_mae_meV_per_A``, ``valid_forces_rmse_meV_per_A``, stress columns when the
data have stress, ``valid_<target>_mae_<unit>`` and ``valid_<target>_rmse_<unit>`` for
further targets (``valid_dipole_mae_e_A``: in the head's unit), and ``wall_time_s``
(seconds since the run started, resumes included).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from ..evaluation.metrics import column_name
from .run_files import RunPaths, atomic_write

__all__ = ["TrainingHistory", "plot_learning_curve", "summary_line", "write_metrics_csv"]


class TrainingHistory(Callback):
    """Collects `PotentialModule.epoch_record` after every epoch; on the first process,
    rewrites ``metrics.csv`` and ``learning_curve.png`` (atomically) and prints a summary line.

    With ``max_time_s``, the run stops once it has trained that many seconds (resumes
    count), wherever it is: checked after every optimizer step, so it ends at most one
    batch (and one validation) past the budget. Stopping inside an epoch writes a
    mid-epoch ``last.ckpt`` first (a resume continues exactly), then validates the EMA
    weights as they are, so the minutes of the unfinished epoch are not lost: that
    validation is a row whose ``epoch`` is fractional (3.45: stopped 45% into epoch 4),
    does not step the learning-rate schedule or count for early stopping, and its model
    becomes ``model.pt`` if it beats the best so far (`RunCheckpoints`).

    The rows and the elapsed time are part of the checkpoint, so a resumed run continues
    the same table (without the fractional row: the resumed epoch replaces it).
    """

    def __init__(self, paths: RunPaths, max_epochs: int, verbose: bool = True, max_time_s: float | None = None):
        super().__init__()
        self.paths, self.max_epochs, self.verbose, self.max_time_s = paths, max_epochs, verbose, max_time_s
        self.rows: list[dict[str, float]] = []
        self._elapsed_before = 0.0
        self._started = time.monotonic()

    def elapsed(self) -> float:
        """Seconds of training so far, over all resumes."""
        return self._elapsed_before + time.monotonic() - self._started

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(row) for row in self.rows], "elapsed": self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(row) for row in state_dict["rows"]]
        self._elapsed_before = float(state_dict["elapsed"])
        self._started = time.monotonic()

    def spent(self) -> bool:
        """Whether the time budget is used up (never without ``max_time_s``)."""
        return self.max_time_s is not None and self.elapsed() >= self.max_time_s

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.monotonic()
        if not self.rows and trainer.global_step == 0:  # a new run, not one restored from a checkpoint
            return
        spent = self.spent()
        trainer.should_stop = trainer.should_stop or spent  # a finished run does not train past its budget
        if trainer.is_global_zero and self.verbose:
            epoch = int(self.rows[-1]["epoch"]) if self.rows else 0
            print(f"resuming {self.paths.output_dir} from epoch {epoch} "
                  f"(step {trainer.global_step}, {self._elapsed_before:.0f} s of training so far)", flush=True)
            if spent:
                print(f"its time budget ({(self.max_time_s or 0) / 60:g} min) is spent "
                      "(a larger max_time_minutes, or the demo's --minutes, trains on)", flush=True)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Stop inside the epoch when the budget is spent: mid-epoch ``last.ckpt``, then
        Lightning validates (as for any stop request) and the epoch-end hooks see a
        partial epoch (`PotentialModule.stopped_fraction`)."""
        if self.max_time_s is None or batch_idx + 1 >= trainer.num_training_batches:
            return  # the last batch: the epoch ends normally, on_train_epoch_end stops
        if not trainer.strategy.reduce_boolean_decision(self.spent(), all=False):  # any process
            return
        trainer.save_checkpoint(self.paths.last_checkpoint, weights_only=False)  # before the partial validation
        pl_module.stopped_fraction = (batch_idx + 1) / trainer.num_training_batches  # type: ignore[assignment]
        trainer.should_stop = True
        if trainer.is_global_zero and self.verbose:
            print(f"time budget ({self.max_time_s / 60:g} min) spent after {batch_idx + 1} of "
                  f"{trainer.num_training_batches} batches of epoch {trainer.current_epoch + 1}: "
                  f"checkpoint written, validating the weights as they are", flush=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = dict(pl_module.epoch_record)
        if not record:
            return
        record["wall_time_s"] = round(self.elapsed(), 3)
        self.rows = [row for row in self.rows if row["epoch"] < record["epoch"]] + [record]
        if self.max_time_s is not None and trainer.strategy.reduce_boolean_decision(self.spent(), all=False):
            trainer.should_stop = True
        if trainer.is_global_zero:
            units = dict(getattr(pl_module, "target_units", {}))
            write_metrics_csv(self.rows, self.paths.metrics, units)
            plot_learning_curve(self.rows, self.paths.learning_curve, units)
            if self.verbose:
                print(summary_line(record, self.max_epochs, units), flush=True)


def summary_line(record: dict[str, float], max_epochs: int, units: dict[str, str] | None = None) -> str:
    """One line about an epoch: losses, energy and force MAE (and those of the further
    targets named in ``units``, name -> unit), learning rate, time."""
    epoch = float(record["epoch"])
    shown = f"{int(epoch)}" if epoch.is_integer() else f"{epoch:.2f} (stopped inside epoch {int(epoch) + 1})"
    parts = [f"epoch {shown}/{max_epochs}", f"train loss {record['train_loss']:.4g}"]
    parts.append(f"valid loss {record['valid_loss']:.4g}")
    for key, label, unit in (
        ("valid_energy_per_atom_mae", "E MAE", "meV/atom"),
        ("valid_forces_mae", "F MAE", "meV/Å"),
        ("valid_stress_mae", "S MAE", "meV/Å³"),
    ):
        if key in record:
            parts.append(f"{label} {record[key]:.3g} {unit}")
    for name, unit in (units or {}).items():
        if f"valid_{name}_mae" in record:
            parts.append(f"{name} MAE {record[f'valid_{name}_mae']:.3g} {unit}".rstrip())
    parts.append(f"lr {record['lr']:.3g}")
    if "wall_time_s" in record:
        parts.append(f"{record['wall_time_s']:.1f} s")
    return "  ".join(parts)


def write_metrics_csv(rows: Sequence[dict[str, float]], path: str | Path, units: dict[str, str] | None = None) -> Path:
    """Write ``rows`` as CSV (columns: union of the keys, units appended to metric names;
    ``units`` gives those of further targets by name)."""
    keys: list[str] = []
    for row in rows:
        keys += [key for key in row if key not in keys]
    if "wall_time_s" in keys:  # last column
        keys.remove("wall_time_s")
        keys.append("wall_time_s")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([_column(key, units) for key in keys])
    for row in rows:
        writer.writerow(["" if row.get(key) is None else _format(row[key]) for key in keys])
    return atomic_write(path, lambda stream: stream.write(text.getvalue().encode()))


def _column(key: str, units: dict[str, str] | None = None) -> str:
    return "valid_" + column_name(key.removeprefix("valid_"), units) if key.startswith("valid_") else key


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def plot_learning_curve(rows: Sequence[dict[str, float]], path: str | Path, units: dict[str, str] | None = None) -> Path:
    """Losses (left) and validation MAEs (right; with the further targets named in
    ``units``) against epoch, log scale, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.91, wspace=0.22)
    FigureCanvasAgg(figure)
    losses, errors = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in rows]
    for key, label in (("train_loss", "train"), ("valid_loss", "validation")):
        _semilogy(losses, epochs, [row.get(key) for row in rows], label)
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    curves = [
        ("valid_energy_per_atom_mae", "energy (meV/atom)"),
        ("valid_forces_mae", "forces (meV/Å)"),
        ("valid_stress_mae", "stress (meV/Å³)"),
    ] + [(f"valid_{name}_mae", f"{name} ({unit})" if unit else name) for name, unit in (units or {}).items()]
    for key, label in curves:
        if any(key in row for row in rows):
            _semilogy(errors, epochs, [row.get(key) for row in rows], label)
    errors.set(xlabel="epoch", ylabel="MAE", title="validation MAE (EMA weights)")
    for axes in (losses, errors):
        if axes.lines:
            axes.legend()
        axes.grid(True, which="both", alpha=0.3)
    return atomic_write(path, lambda stream: figure.savefig(stream, format="png", dpi=100))


def _semilogy(axes: Any, x: list[float], y: list[float | None], label: str) -> None:
    points = [(a, b) for a, b in zip(x, y, strict=False) if b is not None and math.isfinite(b) and b > 0]
    if points:
        axes.semilogy(*zip(*points, strict=False), marker="o" if len(points) < 30 else None, label=label)
