"""``scripts/longrange_nacl_study.py`` end to end on a few 8-atom cells (a tiny local model,
one epoch): the CsCl − rocksalt difference is taken against uncompressed rocksalt frames,
those of ``--gap-frames`` when given."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms


def labelled_cscl(nacl_bmh, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * 3.43, pbc=True) * (2, 1, 1)
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    atoms.calc = nacl_bmh.BMHCoulombCalculator(accuracy=1e-6)
    atoms.get_stress()
    return atoms


@pytest.fixture(scope="module")
def study_data(nacl_bmh, nacl_cells_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 rocksalt frames (the second dozen tagged compression -0.04) and 3 CsCl frames."""
    folder = tmp_path_factory.mktemp("nacl_study_data")
    frames = ase.io.read(nacl_cells_file, index=":")
    tagged = [frame.copy() for frame in frames]
    for original, frame in zip(frames, tagged):
        frame.calc = original.calc
        frame.info["compression"] = -0.04
    ase.io.write(folder / "nacl_rocksalt.xyz.gz", frames + tagged)
    ase.io.write(folder / "nacl_cscl.xyz.gz", [labelled_cscl(nacl_bmh, seed) for seed in range(3)])
    ase.io.write(folder / "gap.xyz", frames[:3])
    return folder


def run_study(nacl_study, monkeypatch, data: Path, output: Path, *extra: str, model: str = "local") -> dict:
    """Train and evaluate one ``model`` (local or hybrid) of the study; its results."""
    argv = ["longrange_nacl_study.py", "--data-dir", str(data), "--output-dir", str(output), "--epochs", "1",
            "--channels", "4", "--cutoff", "3.0", "--only", model, *extra]
    monkeypatch.setattr(sys, "argv", argv)
    threads = torch.get_num_threads()
    try:
        assert nacl_study.main() == 0
    finally:
        torch.set_num_threads(threads)  # the script sets one thread
    return json.loads((output / "nacl_study.json").read_text())["results"][model]


def per_atom(frames: list) -> np.ndarray:
    return np.array([atoms.get_potential_energy() / len(atoms) for atoms in frames])


def test_the_gap_is_taken_against_uncompressed_frames(nacl_study, study_data: Path, tmp_path: Path, monkeypatch) -> None:
    result = run_study(nacl_study, monkeypatch, study_data, tmp_path)
    args = argparse.Namespace(output_dir=tmp_path, data_dir=study_data)
    test = nacl_study._test_frames(args, "local")
    uncompressed = [atoms for atoms in test if "compression" not in atoms.info]
    assert 0 < result["gap_rocksalt_frames"] == len(uncompressed) < len(test)  # this split holds both kinds
    cscl = ase.io.read(study_data / "nacl_cscl.xyz.gz", index=":")
    expected = 1000 * (per_atom(cscl).mean() - per_atom(uncompressed).mean())
    assert result["gap_ref_meV_per_atom"] == pytest.approx(expected, abs=1e-9)


def test_gap_frames_replace_the_test_split(nacl_study, study_data: Path, tmp_path: Path, monkeypatch) -> None:
    result = run_study(nacl_study, monkeypatch, study_data, tmp_path, "--gap-frames", str(study_data / "gap.xyz"))
    gap, cscl = ase.io.read(study_data / "gap.xyz", index=":"), ase.io.read(study_data / "nacl_cscl.xyz.gz", index=":")
    assert result["gap_rocksalt_frames"] == 3
    assert result["gap_ref_meV_per_atom"] == pytest.approx(1000 * (per_atom(cscl).mean() - per_atom(gap).mean()), abs=1e-9)
    assert result["held_out_energy_mae_meV_per_atom"] > 0 and result["held_out_forces_mae_meV_per_A"] > 0


def test_no_uncompressed_test_frame_is_refused_in_one_line(nacl_study, study_data: Path, tmp_path: Path, monkeypatch) -> None:
    frames = ase.io.read(study_data / "nacl_rocksalt.xyz.gz", index=":")
    for frame in frames:
        frame.info["compression"] = -0.04
    data = tmp_path / "data"
    data.mkdir()
    ase.io.write(data / "nacl_rocksalt.xyz.gz", frames)
    (data / "nacl_cscl.xyz.gz").symlink_to(study_data / "nacl_cscl.xyz.gz")
    with pytest.raises(SystemExit, match="no uncompressed rocksalt test frame to take CsCl − rocksalt against; pass --gap-frames FILE"):
        run_study(nacl_study, monkeypatch, data, tmp_path / "run")


def test_the_hybrid_takes_its_own_cutoff_and_weights_and_other_cscl_frames(
    nacl_study, study_data: Path, tmp_path: Path, monkeypatch
) -> None:
    import yaml

    ase.io.write(tmp_path / "two_cscl.xyz", ase.io.read(study_data / "nacl_cscl.xyz.gz", index=":2"))
    hybrid = run_study(
        nacl_study, monkeypatch, study_data, tmp_path / "run", "--cutoff", "3.5", "--hybrid-cutoff", "3.0",
        "--energy-weight", "3", "--layers", "1", "--correlation", "1", "--charges", "fixed",
        "--cscl-frames", str(tmp_path / "two_cscl.xyz"), model="hybrid",
    )
    config = yaml.safe_load((tmp_path / "run" / "hybrid" / "config.yaml").read_text())
    assert config["model"]["cutoff"] == 3.0 and config["loss"]["energy_weight"] == 3.0
    assert config["model"]["num_layers"] == 1 and config["model"]["correlation"] == 1
    assert hybrid["cscl_gap_frames"] == 2  # the frames of --cscl-frames, not the data dir's three
    assert hybrid["cscl_mean_abs_charge_e"] == pytest.approx(1.0)  # the fixed formal charges


def test_formal_start_gives_learned_charges_that_start_at_plus_minus_one_and_is_refused_with_fixed(
    nacl_study, study_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import yaml

    hybrid = run_study(nacl_study, monkeypatch, study_data, tmp_path / "run", "--formal-start", model="hybrid")
    config = yaml.safe_load((tmp_path / "run" / "hybrid" / "config.yaml").read_text())
    assert config["model"]["long_range"]["charges"] == "neutral"
    assert config["model"]["long_range"]["initial_charges"] == {"Na": 1.0, "Cl": -1.0}
    assert "charges" not in config["loss"].get("targets", {})  # energies, forces and stress only
    assert 0.9 < hybrid["rocksalt_mean_abs_charge_e"] < 1.1  # one epoch from ±1 e (untrained they start near 0)
    monkeypatch.setattr(sys, "argv", ["longrange_nacl_study.py", "--formal-start", "--charges", "fixed"])
    with pytest.raises(SystemExit):
        nacl_study.main()
    assert "--formal-start is for learned charges (--charges neutral or qeq)" in capsys.readouterr().err


def test_summarize_gives_each_seed_and_the_mean_of_several_runs(nacl_study, tmp_path: Path) -> None:
    def record(seed: int, gap_pred: float, cscl_e: float) -> dict:
        return {"seed": seed, "rocksalt_energy_mae_meV_per_atom": 1.0, "rocksalt_forces_mae_meV_per_A": 10.0,
                "held_out_energy_mae_meV_per_atom": 0.5, "held_out_forces_mae_meV_per_A": 8.0,
                "cscl_energy_mae_meV_per_atom": cscl_e, "cscl_forces_mae_meV_per_A": 20.0,
                "gap_pred_meV_per_atom": gap_pred, "gap_ref_meV_per_atom": 130.0}

    folders = []
    for seed, (local_gap, hybrid_gap) in enumerate(((120.0, 126.0), (134.0, 128.0))):
        folder = tmp_path / f"s{seed}"
        folder.mkdir()
        results = {"local": record(seed, local_gap, 12.0 + seed), "hybrid": record(seed, hybrid_gap, 4.0)}
        (folder / "nacl_study.json").write_text(json.dumps({"results": results}))
        folders.append(folder)
    table = nacl_study.summarize(folders)
    assert "| local | 0 | 1.00 | 10.0 | 0.50 | 8.0 | 12.00 | 20.0 | -10.0 |" in table
    assert "| hybrid | 1 | 1.00 | 10.0 | 0.50 | 8.0 | 4.00 | 20.0 | -2.0 |" in table
    # local: errors -10 and +4 (mean -3, std 9.9, mean |error| 7); CsCl E 12 and 13
    assert "| **local, mean ± std** | 2 seeds | 1.00 ± 0.00 | 10.0 ± 0.0 | 0.50 ± 0.00 | 8.0 ± 0.0 | 12.50 ± 0.71 | 20.0 ± 0.0 | -3.0 ± 9.9 (mean \\|error\\| 7.0) |" in table
    assert "(mean \\|error\\| 3.0) |" in table  # hybrid: -4 and -2
    assert table.endswith("CsCl − rocksalt reference: 130.0 meV/atom")


def test_summarize_refuses_a_folder_without_results_in_one_line(nacl_study, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="holds no nacl_study.json; run the study's evaluation"):
        nacl_study.summarize([tmp_path])
