"""`run_active_learning`: train -> explore -> score -> select -> label -> repeat.

>>> from equipot.learn import run_active_learning     # doctest: +SKIP
>>> result = run_active_learning("learn.yaml")         # doctest: +SKIP
>>> result.stopped, result.report_path                 # doctest: +SKIP
('converged', PosixPath('runs/learn/learn_report.csv'))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ase.io

from ..config.learn import LearnConfig, load_learn_config
from ..data import GraphDataset
from ..models import Potential
from ..train import evaluate_errors
from .exploration import explore
from .labellers import LabelError, label, make_labeller
from .selection import score_frames, select_frames
from .state import LearnState
from .store import LABELLED, PENDING, QUARANTINED, LearnStore, StoreLock, database_location, new_run_id
from .training import previous_round_models, round_train_config, train_round

__all__ = ["LearnHooks", "LearnResult", "run_active_learning"]


@dataclass
class LearnHooks:
    """Callbacks of the loop (for reports, plots and tests): ``after_selection(round)``
    once a round's selection is in the database, before labelling; ``on_round_end(state)``
    after each round's report row is written."""

    after_selection: Callable[[int], None] | None = None
    on_round_end: Callable[[LearnState], None] | None = None


@dataclass
class LearnResult:
    """What `run_active_learning` returns."""

    output_dir: Path
    database: str
    report_path: Path
    model_path: Path | None
    stopped: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def run_active_learning(
    config: LearnConfig | str | os.PathLike, resume: bool = False, hooks: LearnHooks | None = None
) -> LearnResult:
    """Run the loop that ``config`` describes (see docs/active_learning.md).

    ``resume=True`` carries on a run that was stopped or killed: structures selected but
    not labelled are labelled first, nothing is labelled twice. Without it, an output
    folder or database that already holds a run is an error. A second run on the same
    database is refused (`RunInUseError`, with the holder's PID).
    """
    config = config if isinstance(config, LearnConfig) else load_learn_config(config)
    hooks = hooks or LearnHooks()
    output_dir = Path(config.output_dir).expanduser().resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    database = database_location(config.database, Path.cwd())
    with StoreLock(database, output_dir):
        state = _start_state(config, output_dir, database, resume)
        store = LearnStore(database, state.run_id)
        labeller = make_labeller(config.labeller.name, config.labeller.settings)
        if store.count() == 0:
            _add_initial(store, config)
        while state.stopped is None:
            _run_round(config, output_dir, store, labeller, state, hooks)
    model = output_dir / f"round_{state.completed}" / "model.pt"
    return LearnResult(output_dir, database, output_dir / "learn_report.csv", model if model.exists() else None,
                       state.stopped, state.rows)


def _start_state(config: LearnConfig, output_dir: Path, database: str, resume: bool) -> LearnState:
    state = LearnState.load(output_dir)
    if resume:
        if state is None:
            raise FileNotFoundError(f"nothing to resume in {output_dir} (no learn_state.json); start without --resume")
        return state
    if state is not None:
        raise FileExistsError(f"{output_dir} already holds an active-learning run; pass --resume to continue it "
                              "or choose another output_dir")
    rows = LearnStore(database, "").count()
    if rows:
        raise FileExistsError(f"database {database} already holds {rows} structures; pass --resume to continue "
                              "that run or choose another database")
    state = LearnState(run_id=new_run_id())
    state.save(output_dir)
    return state


def _add_initial(store: LearnStore, config: LearnConfig) -> None:
    structures = ase.io.read(config.initial_file, index=":")
    if not structures:
        raise ValueError(f"initial_file {config.initial_file} holds no structures")
    for atoms in structures:
        if atoms.calc is None or "energy" not in atoms.calc.results or "forces" not in atoms.calc.results:
            raise ValueError(f"initial_file {config.initial_file}: every structure needs energy and forces labels")
    store.add_many([(atoms, {"round_index": 0, "origin": "initial", "status": LABELLED,
                             "labeller": "initial_file", "settings": {"file": str(config.initial_file)}})
                    for atoms in structures])


def _run_round(config: LearnConfig, output_dir: Path, store: LearnStore, labeller, state: LearnState,
               hooks: LearnHooks) -> None:
    round_index = state.completed + 1
    current = state.current if state.current and state.current["round"] == round_index else None
    if current is None or store.count(round=round_index) == 0:
        current = _train_and_select(config, output_dir, store, state, round_index)
        if current is None:
            return
    if hooks.after_selection is not None:
        hooks.after_selection(round_index)
    for row_id, atoms in store.pending():
        try:
            energy, forces = label(atoms, labeller)
        except LabelError as error:
            store.quarantine(row_id, str(error))
        else:
            store.mark_labelled(row_id, energy, forces)
    row = dict(current["row"])
    row["n_quarantined"] = store.count(round=round_index, status=QUARANTINED)
    row["new_labels"] = store.new_labels()
    state.rows.append(row)
    state.completed, state.current = round_index, None
    state.save(output_dir)
    if hooks.on_round_end is not None:
        hooks.on_round_end(state)


def _train_and_select(config: LearnConfig, output_dir: Path, store: LearnStore, state: LearnState,
                      round_index: int) -> dict[str, Any] | None:
    """Train, report, explore and select for ``round_index``; None when the run stops here."""
    round_dir = output_dir / f"round_{round_index}"
    labelled = list(store.labelled_atoms())
    train_file = round_dir / "labelled.xyz"
    round_dir.mkdir(parents=True, exist_ok=True)
    ase.io.write(train_file, labelled, format="extxyz")
    finetune = config.finetune if round_index > 1 else None
    train_config = round_train_config(config.train_config(), train_file, round_dir / "train", finetune)
    bases = (previous_round_models(output_dir / f"round_{round_index - 1}" / "train", config.selection, finetune)
             if finetune else None)
    potential, feature_model = train_round(train_config, config.selection, bases, finetune)
    _save_round_model(potential, round_dir / "model.pt")
    row: dict[str, Any] = {"round": round_index, "n_labelled": len(labelled), "new_labels": store.new_labels(),
                           "n_selected": 0, "n_quarantined": 0, **_test_errors(potential, config)}
    spent = config.convergence.max_labels is not None and store.new_labels() >= config.convergence.max_labels
    if round_index >= config.convergence.max_rounds or spent:
        return _stop(state, output_dir, row, "budget")
    starts = ase.io.read(config.exploration.start_file, index=":")
    frames = explore(potential, starts, config.exploration, seed=config.seed + 1000 * round_index)
    structures = [frame for frame, _ in frames]
    scores, flags = score_frames(potential, structures, config.selection.estimator, config.selection.threshold)
    row.update(n_explored=len(frames), n_flagged=int(flags.sum()),
               flagged_fraction=float(flags.mean()) if len(frames) else 0.0)
    if _converged([*state.rows, row], config):
        return _stop(state, output_dir, row, "converged")
    chosen = select_frames(feature_model, structures, scores, flags, config.selection.budget_per_round,
                           config.selection.candidates_per_label)
    if config.convergence.max_labels is not None:
        chosen = chosen[: config.convergence.max_labels - store.new_labels()]
    row["n_selected"] = len(chosen)
    current = {"round": round_index, "row": row}
    state.current = current
    state.save(output_dir)
    settings = config.labeller.settings
    store.add_many([(structures[i], {"round_index": round_index, "origin": frames[i][1], "status": PENDING,
                                     "labeller": config.labeller.name, "settings": settings,
                                     "score": float(scores[i]) if math.isfinite(scores[i]) else 1e300})
                    for i in chosen])
    return current


def _stop(state: LearnState, output_dir: Path, row: dict[str, Any], reason: str) -> None:
    state.rows.append(row)
    state.completed, state.current, state.stopped = row["round"], None, reason
    state.save(output_dir)
    return None


def _converged(rows: list[dict[str, Any]], config: LearnConfig) -> bool:
    """Fewer than ``flagged_percent`` % flagged in each of the last ``rounds_in_a_row`` explored rounds."""
    rule = config.convergence
    fractions = [r["flagged_fraction"] for r in rows if "flagged_fraction" in r]
    recent = fractions[-rule.rounds_in_a_row:]
    return len(recent) == rule.rounds_in_a_row and all(100.0 * f < rule.flagged_percent for f in recent)


def _test_errors(potential: Potential, config: LearnConfig) -> dict[str, float]:
    if config.test_file is None:
        return {}
    test = GraphDataset.from_file(config.test_file, potential.cutoff, require=("energy", "forces"), dtype=potential.dtype)
    metrics = evaluate_errors(potential, test)
    return {"test_forces_mae": metrics["forces_mae"], "test_energy_per_atom_mae": metrics["energy_per_atom_mae"]}


def _save_round_model(potential: Potential, path: Path) -> None:
    """The round's model file (a committee file or a model with its estimators)."""
    from ..uq import Committee, save_committee, save_uncertainty_model

    if isinstance(potential, Committee):
        save_committee(potential, path)
    else:
        save_uncertainty_model(potential, path)  # type: ignore[arg-type]


