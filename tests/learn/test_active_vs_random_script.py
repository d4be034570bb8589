"""scripts/active_vs_random.py: labels-to-target read on a curve, and the analysis of
finished (and unfinished) runs into summary.json and the figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest



@pytest.fixture(scope="module")
def script():
    import active_vs_random  # scripts/ (pytest's pythonpath)

    return active_vs_random


def test_labels_to_target_interpolates_between_rounds(script):
    assert script.labels_to_target([20, 30, 40], [50.0, 30.0, 10.0], 20.0) == pytest.approx(35.0)
    assert script.labels_to_target([20, 30], [15.0, 5.0], 20.0) == 20.0
    assert math.isinf(script.labels_to_target([20, 30], [50.0, 40.0], 20.0))


def _curve(out: Path, strategy: str, seed: int, errors: list[float]) -> None:
    labels = [20 + 10 * i for i in range(len(errors))]
    curve = {"strategy": strategy, "seed": seed, "labels": labels, "test_forces_mae": errors,
             "picked_kinds": [["hot"] * 10 if strategy == "active" else ["easy"] * 10] * (len(errors) - 1),
             "seconds": [1.0] * len(errors), "finished": True}
    (out / f"curve_{strategy}_{seed}.json").write_text(json.dumps(curve))


def test_analyze_reads_labels_to_each_target(script, tmp_path):
    _curve(tmp_path, "active", 0, [60.0, 30.0, 20.0, 15.0])
    _curve(tmp_path, "active", 1, [60.0, 40.0, 20.0, 15.0, 10.0])  # one round more: cut to the common 4
    _curve(tmp_path, "random", 0, [60.0, 50.0, 40.0, 30.0, 25.0, 15.0])
    _curve(tmp_path, "random", 1, [60.0, 50.0, 40.0, 30.0, 15.0, 15.0])
    summary = script.analyze(tmp_path, None, tmp_path / "figure.png")
    assert summary["labels"] == {"active": [20, 30, 40, 50], "random": [20, 30, 40, 50, 60, 70]}
    active, random = summary["strategies"]["active"], summary["strategies"]["random"]
    assert active["mean_mae"] == [60.0, 35.0, 20.0, 15.0] and random["mean_mae"][-2:] == [20.0, 15.0]
    first, second = summary["targets"]  # random's mean at 50 labels (30), active's final mean (15)
    assert first["target_meV_per_A"] == 30.0 and second["target_meV_per_A"] == 15.0
    assert first["active"]["per_seed"] == [30.0, 35.0]
    assert first["active"]["mean_curve"] == pytest.approx(33.3)  # 30 + 10 * (35 - 30) / (35 - 20)
    assert first["random"]["mean_curve"] == 50.0
    assert first["labels_ratio_random_over_active"] == pytest.approx(50 / 33.3, abs=0.01)
    assert first["new_labels_ratio_random_over_active"] == pytest.approx(30 / 13.3, abs=0.01)
    assert second["active"]["mean_curve"] == 50.0 and second["random"]["mean_curve"] == 70.0
    assert second["random"]["per_seed"] == [70.0, 60.0]
    assert active["picked_informative_fraction"] == 1.0 and random["picked_informative_fraction"] == 0.0
    assert (tmp_path / "figure.png").stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    given = script.analyze(tmp_path, [45.0], tmp_path / "figure.png")["targets"]
    assert [row["target_meV_per_A"] for row in given] == [45.0]
    assert math.isinf(script.labels_to_target([20, 30], [60.0, 50.0], 45.0))


def test_per_kind_errors_evaluate_each_rounds_committee_on_each_kind(script, tmp_path):
    import ase.io
    import numpy as np
    import torch
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from equipot import EquivariantPotential
    from equipot.config import ModelConfig
    from equipot.data import GraphDataset
    from equipot.train import evaluate_errors
    from equipot.uq import Committee, save_committee

    rng = np.random.default_rng(0)
    frames = []
    for kind in script.KINDS:  # one 4-atom frame per kind, contiguous as generate() writes them
        atoms = bulk("Cu", cubic=True)
        atoms.rattle(0.05, seed=int(rng.integers(100)))
        atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=rng.normal(size=(4, 3)))
        atoms.info["kind"] = kind
        frames.append(atoms)
    ase.io.write(tmp_path / "test.xyz", frames)

    def committee(seed: int) -> Committee:
        members = []
        for index in range(2):
            torch.manual_seed(10 * seed + index)
            model = EquivariantPotential(ModelConfig(species=["Cu"], cutoff=3.0, num_channels=4, num_layers=1, lmax=1))
            model.set_normalization(scale=1.0, shift=0.0, avg_num_neighbors=12.0)
            members.append(model.eval())
        return Committee(members)

    for seed, run in ((1, tmp_path / "first_round_0"), (2, tmp_path / "active_0" / "round_2")):
        (run / "train").mkdir(parents=True)
        save_committee(committee(seed), run / "train" / "committee.pt")
    _curve(tmp_path, "active", 0, [60.0, 30.0])
    table = script.per_kind_errors(tmp_path)
    assert sorted(table["active"]) == sorted(f"{n}:{k}" for n in (20, 30) for k in script.KINDS)
    hot = GraphDataset.from_file(tmp_path / "test.xyz", 3.0, require=("energy", "forces"), index="1:2")
    assert table["active"]["30:hot"] == round(evaluate_errors(committee(2), hot)["forces_mae"], 1)
    assert table["active"]["20:hot"] == round(evaluate_errors(committee(1), hot)["forces_mae"], 1)
    assert table["active"]["30:hot"] != table["active"]["30:vacancy"]


def test_a_pool_of_another_scale_is_refused(script, tmp_path):
    (tmp_path / "initial.xyz").write_text("")
    (tmp_path / "pool_scale.txt").write_text("4\n")
    with pytest.raises(SystemExit, match="holds a pool of scale 4, not 1: use another --out"):
        script.generate(tmp_path, 1)
    script.generate(tmp_path, 4)  # the same scale: nothing to do
