"""The equal-budget comparison harness (benchmarks/peers, issue 17): learning-curve parsing
and stamping, the report's seed aggregation, the held-out data splits and generator."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.build import molecule
from ase.io import read, write

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

import compare  # noqa: E402
import curve_report  # noqa: E402
import curves  # noqa: E402
import mace_runner  # noqa: E402
import write_splits  # noqa: E402


def test_mace_records_skip_cut_lines_and_convert_to_mev(tmp_path: Path) -> None:
    log = tmp_path / "train.txt"
    log.write_text(
        json.dumps({"mode": "eval", "epoch": None, "mae_f": 0.5}) + "\n"  # MACE's evaluation before training
        + json.dumps({"mode": "opt", "epoch": 0, "loss": 1.0}) + "\n"
        + json.dumps({"mode": "eval", "epoch": 0, "mae_f": 0.040}) + "\n"
        + json.dumps({"mode": "eval", "epoch": 1, "mae_f": 0.030}) + "\n"
        + '{"mode": "eval", "epo'  # the line being written when the file was read
    )
    assert curves.mace_records(log) == [(1.0, pytest.approx(40.0)), (2.0, pytest.approx(30.0))]
    assert curves.mace_records(tmp_path / "absent.txt") == []


def test_lightning_and_equipot_records(tmp_path: Path) -> None:
    csv_dir = tmp_path / "csv" / "version_0"
    csv_dir.mkdir(parents=True)
    (csv_dir / "metrics.csv").write_text(
        "epoch,step,train_loss,val0_epoch/forces_mae\n0,19,1.0,\n0,20,,0.025\n1,40,,0.020\n"
    )
    assert curves.lightning_csv_records(tmp_path / "csv") == [(1.0, pytest.approx(25.0)), (2.0, pytest.approx(20.0))]
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("epoch,lr,valid_forces_mae_meV_per_A,wall_time_s\n1,0.01,80.5,10\n1.5,0.01,70.0,15\n")
    assert curves.equipot_records(metrics) == [(1.0, 80.5), (1.5, 70.0)]


def test_curve_recorder_stamps_each_epoch_once_with_its_first_sighting() -> None:
    records: list[tuple[float, float]] = []
    cpu = iter([0.0, 1.0, 2.5, 4.0])
    recorder = curves.CurveRecorder(lambda: list(records), lambda: next(cpu))
    recorder.poll()
    assert recorder.rows == []
    records.append((1.0, 50.0))
    recorder.poll()
    records.append((2.0, 40.0))
    recorder.poll()
    assert [row["epoch"] for row in recorder.rows] == [1.0, 2.0]
    assert [row["cpu_s"] for row in recorder.rows] == [2.5, 4.0]  # measured from the first reading (0.0)
    assert recorder.rows[0]["wall_s"] <= recorder.rows[1]["wall_s"]
    assert [row["valid_forces_mae"] for row in recorder.rows] == [50.0, 40.0]


def test_curve_recorder_counts_the_start_up_of_its_own_process() -> None:
    with curves.CurveRecorder(lambda: [(1.0, 9.0)], lambda: 7.0, launched_s_ago=100.0, cpu_baseline=0.0) as recorder:
        pass
    assert recorder.rows[0]["wall_s"] >= 100.0 and recorder.rows[0]["cpu_s"] == 7.0
    assert 0.0 < curves.own_age_seconds() < 1e6


def test_children_cpu_counts_a_running_child(tmp_path: Path) -> None:
    import subprocess

    children = curves.ChildrenCpu()
    before = children()
    process = subprocess.Popen([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"])
    children.pid = process.pid
    process.wait()
    assert children() > before  # waited for: in RUSAGE_CHILDREN
    assert curves.process_cpu_seconds(process.pid) == 0.0  # gone from /proc


def test_mean_band_holds_each_seed_at_its_last_value() -> None:
    first = (np.array([1.0, 2.0, 3.0]), np.array([30.0, 20.0, 10.0]))
    second = (np.array([1.5, 2.5, 4.0]), np.array([40.0, 30.0, 5.0]))
    grid, mean, low, high = curve_report.mean_band([first, second], n_points=3)
    np.testing.assert_allclose(grid, [1.5, 2.25, 3.0])  # from the later start to the earlier end
    np.testing.assert_allclose(mean, [35.0, 30.0, 20.0])  # (30+40)/2, (20+40)/2, (10+30)/2
    np.testing.assert_allclose(low, [30.0, 20.0, 10.0])
    np.testing.assert_allclose(high, [40.0, 40.0, 30.0])
    assert curve_report.mean_band([first, (np.array([]), np.array([]))]) is None


def _result(test_force: float, hot_force: float, curve: list[tuple[float, float]]) -> dict:
    return {
        "epochs": 10,
        "test": {"energy_mev_per_atom": {"mae": 1.0}, "forces_mev_per_a": {"mae": test_force}},
        "extra": {"hot": {"forces_mev_per_a": {"mae": hot_force}}},
        "curve": [{"epoch": i + 1, "wall_s": t, "cpu_s": t, "valid_forces_mae": m} for i, (t, m) in enumerate(curve)],
    }


def test_report_table_and_figure_over_seeds(tmp_path: Path) -> None:
    accuracy = tmp_path / "accuracy"
    for seed, (test_force, hot_force) in enumerate([(10.0, 20.0), (14.0, 30.0)]):
        path = accuracy / "acetamide" / "mace-recommended" / f"seed{seed}" / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_result(test_force, hot_force, [(60.0, 50.0), (120.0, 30.0 + seed)])))
    failed = accuracy / "acetamide" / "nequip-recommended" / "seed0" / "result.json"
    failed.parent.mkdir(parents=True)
    failed.write_text(json.dumps({"error": "nequip-train wrote no checkpoint"}))
    lines = curve_report.accuracy_report(accuracy, tmp_path / "figures")
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith("| acetamide")}
    assert "| 2 | 10.0 ± 0.0 | 1.00 ± 0.00 | 12.0 ± 2.8 | 25.0 ± 7.1 |" in rows["mace-recommended"]
    assert "| 0 (+1 failed) | – |" in rows["nequip-recommended"]
    figure = tmp_path / "figures" / "curves_acetamide.png"
    assert figure.stat().st_size > 1000 and any(str(figure) in line for line in lines)


def test_split_generated_writes_train_valid_test_and_hot(tmp_path: Path) -> None:
    frames = []
    for i in range(20):
        atoms = molecule("CH3CONH2")
        atoms.positions += 0.01 * i
        atoms.calc = SinglePointCalculator(atoms, energy=-float(i), forces=np.full((len(atoms), 3), 0.1 * i))
        frames.append(atoms)
    source = tmp_path / "generated"
    source.mkdir()
    for name, chosen in (("acetamide_500K.xyz.gz", frames), ("acetamide_1000K.xyz.gz", frames[:5])):
        with gzip.open(source / name, "wt") as stream:
            write(stream, chosen, format="extxyz")
    paths = write_splits.split_generated(source, tmp_path / "data")
    sizes = {key: len(read(path, ":")) for key, path in paths.items()}
    assert sizes == {"acetamide_valid": 2, "acetamide_test": 4, "acetamide_train": 14, "acetamide_hot": 5}
    energies = sorted(a.get_potential_energy() for key in ("train", "valid", "test")
                      for a in read(paths[f"acetamide_{key}"], ":"))
    assert energies == sorted(-float(i) for i in range(20))  # every frame once, labels kept
    assert "pyridine_train" not in paths  # its files are absent: skipped


def test_compare_names_the_generator_when_data_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare, "DATA", tmp_path)
    (tmp_path / "cu_test.xyz").write_text("")
    monkeypatch.setattr(compare.subprocess, "run", lambda *args, **kwargs: None)
    with pytest.raises(SystemExit, match="no data for pyridine in .*generate it first with scripts/generate_peer_data.py"):
        compare.ensure_data(("pyridine",), structures=False)


def test_alloy_cell_composition_and_strained_labels() -> None:
    import argparse

    import generate_peer_data

    args = argparse.Namespace(size=2, nickel=0.5, vacancies=2, max_strain=0.02)
    cell = generate_peer_data.alloy_cell(args, np.random.default_rng(0))
    assert len(cell) == 30 and 14 <= cell.get_chemical_symbols().count("Ni") <= 16  # 16 of 32 sites, then 2 vacancies
    assert cell.cell.volume == pytest.approx(((3.61 + 3.52) / 2 * 2) ** 3)
    frame = generate_peer_data.strained_copy(cell, np.random.default_rng(1), 0.02)
    assert frame.get_stress().shape == (6,) and frame.get_forces().shape == (30, 3)
    assert not np.allclose(frame.cell.array, cell.cell.array)


def test_mace_checkpoints_pruned_per_stage_and_made_resumable_into_stage_two(tmp_path: Path) -> None:
    import torch

    for name in ("model_run-0_epoch-3.pt", "model_run-0_epoch-5.pt", "model_run-0_epoch-7_swa.pt",
                 "model_run-0_epoch-8_swa.pt", "model_run-0_epoch-9_swa.pt", "other.pt"):
        torch.save({"optimizer": {"param_groups": [{"lr": 0.004, "params": [0]}], "state": {}}}, tmp_path / name)
    assert [epoch for epoch, _ in mace_runner.checkpoint_paths(tmp_path)] == [9, 8, 7, 5, 3]
    mace_runner.prune_checkpoints(tmp_path, keep=1)
    left = sorted(path.name for _, path in mace_runner.checkpoint_paths(tmp_path))
    assert left == ["model_run-0_epoch-5.pt", "model_run-0_epoch-9_swa.pt"]  # the newest of each stage
    stage_one = tmp_path / "model_run-0_epoch-5.pt"
    mace_runner.prepare_stage_two_resume(stage_one)
    group = torch.load(stage_one, weights_only=False)["optimizer"]["param_groups"][0]
    assert group == {"lr": 0.004, "params": [0], "swa_lr": mace_runner.STAGE_TWO_LR, "initial_lr": 0.004}


def test_mace_save_restart_keeps_stage_two_on_after_a_single_stage_two_epoch() -> None:
    # mace-torch saves a stage-two model only if --start_swa < --max_num_epochs; the saving
    # restart's max_num_epochs is the checkpoint's epoch, which equals the stage-two start
    # when the stop came after one stage-two epoch (the cuni run of 2026-12-03)
    assert mace_runner.save_stage_two_start(stage_two_epoch=4, checkpoint_epoch=4) == 3
    assert mace_runner.save_stage_two_start(stage_two_epoch=50, checkpoint_epoch=69) == 50
    for stage_two_epoch, checkpoint_epoch in ((4, 4), (4, 5), (50, 69)):
        assert mace_runner.save_stage_two_start(stage_two_epoch, checkpoint_epoch) < checkpoint_epoch
