"""The active-learning loop end to end with the real EMT labeller on 8-atom Cu cells:
the database's provenance, quarantine of a failing labeller, kill-and-resume, and a
second run on the same database refused."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.config.learn import LearnConfig, load_learn_config
from equipot.config.train import ConfigError
from equipot.learn import LABELLERS, LearnHooks, read_report, run_active_learning
from equipot.train import RunInUseError

TINY_TRAIN = {
    "model": {"num_channels": 4, "num_layers": 1, "lmax": 1, "hidden_lmax": 1, "correlation": 1,
              "radial_hidden": 8, "num_radial_basis": 4, "readout_hidden": 4, "cutoff": 3.0},
    "data": {"n_valid": 1},
    "max_epochs": 2,
    "batch_size": 4,
    "threads": 1,
    "accelerator": "cpu",
    "ema": {"enabled": False},
}


def copper_cells(n: int, seed: int, labelled: bool = True) -> list:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.08, seed=int(rng.integers(1 << 31)))
        if labelled:
            atoms.calc = EMT()
            atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(atoms)
    return frames


def learn_config(tmp_path: Path, **overrides) -> LearnConfig:
    ase.io.write(tmp_path / "initial.xyz", copper_cells(4, seed=0))
    ase.io.write(tmp_path / "test.xyz", copper_cells(3, seed=1))
    ase.io.write(tmp_path / "start.xyz", copper_cells(1, seed=2, labelled=False))
    data = {
        "initial_file": str(tmp_path / "initial.xyz"),
        "test_file": str(tmp_path / "test.xyz"),
        "database": str(tmp_path / "learn.db"),
        "output_dir": str(tmp_path / "run"),
        "exploration": {"start_file": str(tmp_path / "start.xyz"), "temperatures_K": [600.0], "steps": 20,
                        "sample_every": 2},
        "selection": {"estimator": "last_layer", "threshold": 1e-6, "budget_per_round": 2},
        "convergence": {"max_rounds": 3},
        "train": TINY_TRAIN,
        **overrides,
    }
    return LearnConfig.model_validate(data)


def rows_of(database: Path) -> list:
    return list(ase.db.connect(database).select(sort="id"))


def test_loop_labels_with_emt_and_records_provenance(tmp_path):
    result = run_active_learning(learn_config(tmp_path))
    assert result.stopped == "budget"
    rows = rows_of(tmp_path / "learn.db")
    assert [r.origin for r in rows[:4]] == ["initial"] * 4
    new = rows[4:]
    assert len(new) == 4 and {r["round"] for r in new} == {1, 2}  # 2 labels in each of 2 rounds
    for row in new:
        assert row.status == "labelled" and row.origin == "md:T=600K" and row.labeller == "emt"
        assert row.score > 1e-6 and row.data["labeller_settings"] == {}
        atoms = row.toatoms()
        reference = atoms.copy()
        reference.calc = EMT()
        assert row.energy == pytest.approx(reference.get_potential_energy())
    report = read_report(result.report_path)
    assert [r["round"] for r in report] == [1, 2, 3]
    assert [r["n_labelled"] for r in report] == [4, 6, 8]
    assert report[0]["n_explored"] == 10 and report[0]["flagged_fraction"] == 1.0
    assert all(np.isfinite(r["test_forces_mae"]) for r in report)
    assert result.model_path is not None and result.model_path.exists()


def test_failing_labeller_quarantines_and_goes_on(tmp_path, monkeypatch):
    calls = {"n": 0}

    class Flaky(EMT):
        def calculate(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("SCF did not converge")
            super().calculate(*args, **kwargs)
            if calls["n"] == 2:
                self.results["energy"] = float("nan")

    monkeypatch.setitem(LABELLERS, "flaky", lambda settings: Flaky(**settings))
    config = learn_config(tmp_path, labeller={"name": "flaky"}, convergence={"max_rounds": 3})
    result = run_active_learning(config)
    rows = rows_of(tmp_path / "learn.db")[4:]
    statuses = [r.status for r in rows]
    assert statuses == ["quarantined", "quarantined", "labelled", "labelled"]
    assert "SCF did not converge" in rows[0].data["error"] and "non-finite" in rows[1].data["error"]
    report = read_report(result.report_path)
    assert [r["n_labelled"] for r in report] == [4, 4, 6]  # quarantined structures never reach training
    assert report[0]["n_quarantined"] == 2


class Killed(Exception):
    pass


def test_kill_after_selection_then_resume_labels_each_once(tmp_path, monkeypatch):
    config = learn_config(tmp_path)
    labelled = []
    original = LABELLERS["emt"]

    class Counting(EMT):
        def calculate(self, atoms=None, *args, **kwargs):
            labelled.append(atoms.positions.tobytes())
            super().calculate(atoms, *args, **kwargs)

    monkeypatch.setitem(LABELLERS, "emt", lambda settings: Counting(**settings))

    def kill(round_index):
        if round_index == 2:
            raise Killed

    with pytest.raises(Killed):
        run_active_learning(config, hooks=LearnHooks(after_selection=kill))
    pending = [r for r in rows_of(tmp_path / "learn.db") if r.status == "pending"]
    assert len(pending) == 2  # selected, not labelled when killed
    with pytest.raises(FileExistsError, match="--resume"):
        run_active_learning(config)
    result = run_active_learning(config, resume=True)
    assert result.stopped == "budget"
    rows = rows_of(tmp_path / "learn.db")
    assert [r.status for r in rows].count("labelled") == 8 and len(rows) == 8
    assert len(labelled) == len(set(labelled)) == 4  # each selected structure labelled once
    assert [r["round"] for r in read_report(result.report_path)] == [1, 2, 3]
    monkeypatch.setitem(LABELLERS, "emt", original)


def _hold_lock(database: str, output_dir: str, ready, release) -> None:
    from equipot.learn import StoreLock

    with StoreLock(database, Path(output_dir)):
        ready.set()
        release.wait(30)


def test_second_run_on_same_database_is_refused_with_pid(tmp_path):
    config = learn_config(tmp_path)
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(config.database, config.output_dir, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(RunInUseError, match=f"in use by another equipot learn run \\(PID {holder.pid} "):
            run_active_learning(config)
    finally:
        release.set()
        holder.join(30)


def test_config_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'budget_per_round'"):
        learn_config(tmp_path, selection={"estimator": "committee", "threshold": 0.1, "budget_per_rond": 2})
    with pytest.raises(ValueError, match="selection.threshold is required for estimator 'committee'"):
        learn_config(tmp_path, selection={"estimator": "committee"})
    (tmp_path / "bad.yaml").write_text("initial_file: a.xyz\nexploraton: {start_file: s.xyz}\ntrain: t.yaml\n")
    with pytest.raises(ConfigError, match="did you mean 'exploration'"):
        load_learn_config(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="unknown labeller 'emtt'; did you mean 'emt'"):
        run_active_learning(learn_config(tmp_path, labeller={"name": "emtt"}))


def test_cli_runs_the_loop_and_plots(tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from equipot.cli.main import app

    config = learn_config(tmp_path, convergence={"max_rounds": 2})
    (tmp_path / "learn.yaml").write_text(yaml.safe_dump(config.model_dump()))
    result = CliRunner().invoke(app, ["learn", str(tmp_path / "learn.yaml")])
    assert result.exit_code == 0, result.output
    assert "stopped: budget" in result.output
    assert (tmp_path / "run" / "learn_report.png").stat().st_size > 0
    again = CliRunner().invoke(app, ["learn", str(tmp_path / "learn.yaml")])
    assert again.exit_code == 2 and "pass --resume" in again.output


def test_finetune_continues_each_member_and_resumes(tmp_path):
    """With ``finetune``, round r's members start from round r-1's (their E0 kept, not
    refitted to the new labels); a kill after round 2's selection resumes and round 3
    fine-tunes from round 2."""
    import yaml

    config = learn_config(tmp_path, selection={"estimator": "committee", "threshold": 1e-6, "budget_per_round": 2},
                          finetune={"max_epochs": 1, "lr": 0.001, "min_steps": None})

    def kill(round_index):
        if round_index == 2:
            raise Killed

    with pytest.raises(Killed):
        run_active_learning(config, hooks=LearnHooks(after_selection=kill))
    result = run_active_learning(config, resume=True)
    assert result.stopped == "budget" and len([r for r in rows_of(tmp_path / "learn.db") if r.status == "labelled"]) == 8
    run = tmp_path / "run"
    first = yaml.safe_load((run / "round_1" / "train" / "member_0" / "config.yaml").read_text())
    assert first["finetune_from"] is None and first["max_epochs"] == 2
    for round_index, kept in ((2, "model.pt"), (3, "last_model.pt")):  # round 1 trained from scratch: its best
        for member in (0, 1):
            resolved = yaml.safe_load((run / f"round_{round_index}" / "train" / f"member_{member}" / "config.yaml").read_text())
            base = run / f"round_{round_index - 1}" / "train" / f"member_{member}" / kept
            assert resolved["finetune_from"] == str(base.resolve())
            assert resolved["max_epochs"] == 1 and resolved["optimizer"]["lr"] == 0.001
            assert resolved["scheduler"]["name"] == "cosine"  # the fine-tune's default schedule
    from equipot import load_potential
    from equipot.models.io import load_model

    e0 = [load_model(run / f"round_{r}" / "train" / "member_0" / "model.pt").atomic_energies.tolist() for r in (1, 3)]
    assert e0[0] == e0[1]  # a retrain would refit E0 to the 8 labels of round 3
    kept = load_potential(run / "round_3" / "model.pt")  # keep: last (default): the members' last epochs
    for member, model in enumerate(kept.members):
        last = load_model(run / "round_3" / "train" / f"member_{member}" / "last_model.pt").state_dict()
        assert all(torch.equal(value, last[key]) for key, value in model.state_dict().items())


def test_finetune_without_previous_models_names_the_fix(tmp_path):
    from equipot.learn.training import previous_round_models

    selection = learn_config(tmp_path).selection
    with pytest.raises(FileNotFoundError, match="remove the finetune section to train from scratch"):
        previous_round_models(tmp_path / "round_1" / "train", selection)


def test_descriptor_estimator_labels_frames_beyond_the_models_own_threshold(tmp_path):
    from equipot import load_potential

    config = learn_config(tmp_path, selection={"estimator": "descriptor", "budget_per_round": 2},
                          convergence={"max_rounds": 2, "flagged_percent": 0.0})
    # hot enough that some explored frames leave the 4 training cells' descriptor range
    config.exploration.temperatures_K = [3000.0]
    result = run_active_learning(config)
    assert result.stopped == "budget"
    potential = load_potential(tmp_path / "run" / "round_1" / "model.pt")
    threshold = float(potential.descriptors.nearest_threshold)
    report = read_report(result.report_path)
    new = rows_of(tmp_path / "learn.db")[4:]
    assert report[0]["n_flagged"] >= 1 and len(new) == min(2, report[0]["n_flagged"])
    assert all(r.status == "labelled" and r.score > threshold for r in new)  # only frames beyond the threshold


def test_fit_committee_needs_one_base_per_member(tmp_path):
    from equipot.config.train import TrainConfig
    from equipot.train import fit_committee

    config = TrainConfig.model_validate({**TINY_TRAIN, "data": {"train_file": str(tmp_path / "x.xyz")},
                                         "output_dir": str(tmp_path / "c")})
    with pytest.raises(ValueError, match="member_bases names 1 model files for 2 members; give one per member"):
        fit_committee(config, n_members=2, parallel=1, member_bases=[tmp_path / "a.pt"])


def test_finetune_of_a_single_model_starts_from_the_previous_round(tmp_path):
    import yaml

    config = learn_config(tmp_path, convergence={"max_rounds": 2}, finetune={"max_epochs": 1, "min_steps": None})
    run_active_learning(config)
    resolved = yaml.safe_load((tmp_path / "run" / "round_2" / "train" / "config.yaml").read_text())
    assert resolved["finetune_from"] == str((tmp_path / "run" / "round_1" / "train" / "model.pt").resolve())
    assert resolved["max_epochs"] == 1 and resolved["optimizer"]["lr"] == TINY_TRAIN.get("optimizer", {}).get("lr", 0.005)


def test_run_ids_never_read_as_numbers_and_store_rows_keep_them(tmp_path):
    from equipot.learn.store import LearnStore, new_run_id

    # a bare hex id such as 7813064e5467 parses as a float, which ase.db refuses for a string value
    with pytest.raises(ValueError, match="new_run_id"):
        LearnStore(str(tmp_path / "refused.db"), "7813064e5467")
    ids = {new_run_id() for _ in range(2000)}
    assert len(ids) == 2000
    for run_id in ids:
        with pytest.raises(ValueError):
            float(run_id)
    run_id = new_run_id()
    store = LearnStore(str(tmp_path / "learn.db"), run_id)
    atoms = bulk("Cu", "fcc", a=3.6)
    row_id = store.add(atoms, round_index=0, origin="initial", status="pending", labeller="emt", settings={})
    assert ase.db.connect(str(tmp_path / "learn.db")).get(id=row_id).run_id == run_id
