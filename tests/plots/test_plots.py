"""Plots are written headless as valid, non-trivial PNG files, and bad input is refused."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread

from equipot.plots import (
    MAX_SCATTER_POINTS,
    curve_groups,
    energy_trace_plot,
    error_histogram,
    learning_curve,
    parity_plot,
    read_metrics_csv,
    write_evaluation_plots,
)
from equipot.evaluation import EvaluationResult, compute_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_width: int = 300) -> tuple[int, int]:
    """A PNG file with the right signature, a sane size, and more than one colour."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= min_width and height >= 300, (width, height)
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"
    pixels = imread(path)
    assert pixels[..., :3].std() > 0.05, f"{path} looks blank"
    return width, height


def _result(with_stress: bool = True) -> EvaluationResult:
    rng = np.random.default_rng(0)
    n_structures, n_atoms = 40, 400
    reference_forces = rng.normal(0.0, 1.0, (n_atoms, 3))
    energy = rng.normal(-3.5, 0.02, n_structures)
    stress = rng.normal(0.0, 0.01, (n_structures if with_stress else 0, 6))
    result = EvaluationResult(
        energy_per_atom_reference=energy,
        energy_per_atom_predicted=energy + rng.normal(0.0, 0.002, n_structures),
        energy_n_atoms=np.full(n_structures, 10),
        forces_reference=reference_forces,
        forces_predicted=reference_forces + rng.normal(0.0, 0.05, (n_atoms, 3)),
        forces_atomic_numbers=np.where(np.arange(n_atoms) % 3 == 0, 8, 1),
        stress_reference=stress,
        stress_predicted=stress + rng.normal(0.0, 0.001, stress.shape),
    )
    result.metrics = compute_metrics(result)
    return result


def test_parity_plot_scatter_and_hexbin(tmp_path) -> None:
    rng = np.random.default_rng(1)
    few = rng.normal(size=200)
    assert_png(parity_plot(few, few + 0.1 * rng.normal(size=200), tmp_path / "few.png", "energy", "eV"))
    many = rng.normal(size=(MAX_SCATTER_POINTS, 3))  # 3x the scatter limit: hexbin
    path = parity_plot(many, many + 0.05 * rng.normal(size=many.shape), tmp_path / "sub" / "many.png",
                       "force", "eV/Å", error_scale=1000.0, error_unit="meV/Å")
    assert path == tmp_path / "sub" / "many.png"
    assert_png(path)


def test_parity_plot_refuses_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"reference has shape \(3,\) but predicted has \(4,\)"):
        parity_plot(np.zeros(3), np.zeros(4), tmp_path / "x.png", "energy", "eV")
    with pytest.raises(ValueError, match="NaN"):
        parity_plot(np.array([1.0, np.nan]), np.zeros(2), tmp_path / "x.png", "energy", "eV")
    with pytest.raises(ValueError, match="empty"):
        parity_plot(np.zeros(0), np.zeros(0), tmp_path / "x.png", "energy", "eV")


def test_error_histogram_single_and_per_element(tmp_path) -> None:
    rng = np.random.default_rng(2)
    assert_png(error_histogram(rng.normal(size=1000), tmp_path / "one.png", "force", "meV/Å"))
    by_element = {"H": rng.normal(size=500), "O": 2 * rng.normal(size=300)}
    assert_png(error_histogram(by_element, tmp_path / "two.png", "force", "meV/Å"))


def test_write_evaluation_plots_writes_the_documented_files(tmp_path) -> None:
    written = write_evaluation_plots(_result(), tmp_path / "plots")
    names = sorted(p.name for p in written)
    assert names == ["error_histogram.png", "parity_energy.png", "parity_forces.png", "parity_stress.png"]
    for path in written:
        assert path.parent == tmp_path / "plots"
        assert_png(path)
    histogram_width, _ = assert_png(tmp_path / "plots" / "error_histogram.png")
    assert histogram_width > 1.5 * assert_png(tmp_path / "plots" / "parity_energy.png")[0]  # 3 panels

    without_stress = write_evaluation_plots(_result(with_stress=False), tmp_path / "nostress")
    assert sorted(p.name for p in without_stress) == ["error_histogram.png", "parity_energy.png", "parity_forces.png"]


LIGHTNING_CSV = """epoch,step,train_loss,val_loss,val_forces_mae,lr-AdamW
0,9,0.90,,,0.01
0,9,,0.80,120.0,
1,19,0.45,,,0.01
1,19,,0.41,80.0,
2,29,0.20,,,0.005
2,29,,0.22,55.0,
3,39,0.11,,,0.005
3,39,,0.12,40.0,
"""


def test_learning_curve_from_lightning_style_csv(tmp_path) -> None:
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text(LIGHTNING_CSV)
    columns = read_metrics_csv(csv_path)
    assert np.isnan(columns["val_loss"][0]) and columns["val_loss"][1] == pytest.approx(0.8)
    width, _ = assert_png(learning_curve(csv_path, tmp_path / "learning_curve.png"))
    one_panel, _ = assert_png(learning_curve(csv_path, tmp_path / "loss_only.png", columns=["train_loss", "val_loss"]))
    assert width > 2 * one_panel  # loss, metrics and learning-rate panels side by side


EQUIPOT_CSV = """epoch,lr,train_loss,valid_loss,valid_energy_per_atom_mae_meV_per_atom,valid_forces_mae_meV_per_A,wall_time_s
1,0.01,3.2,2.9,40.1,300.5,3.2
2,0.01,1.2,1.1,20.1,200.5,6.1
3,0.005,0.6,0.7,10.1,120.5,9.0
"""


def test_learning_curve_of_equipot_train_metrics_csv(tmp_path) -> None:
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text(EQUIPOT_CSV)
    width, _ = assert_png(learning_curve(csv_path, tmp_path / "learning_curve.png"))
    without_lr, _ = assert_png(learning_curve(csv_path, tmp_path / "no_lr.png",
                                              columns=["train_loss", "valid_forces_mae_meV_per_A"]))
    assert width > 1.3 * without_lr  # three panels against two
    assert curve_groups(read_metrics_csv(csv_path), "epoch") == {
        "learning rate": ["lr"],
        "loss": ["train_loss", "valid_loss"],
        "metrics": ["valid_energy_per_atom_mae_meV_per_atom", "valid_forces_mae_meV_per_A"],
    }


def test_learning_curve_from_columns_and_errors(tmp_path) -> None:
    history = {"epoch": [0, 1, 2, 3], "train_loss": [1.0, 0.5, 0.3, 0.2], "val_energy_mae": [9.0, 5.0, 4.0, 3.5]}
    assert_png(learning_curve(history, tmp_path / "lc.png"))
    with pytest.raises(ValueError, match="columns .*'nope'.* not found"):
        learning_curve(history, tmp_path / "lc.png", columns=["nope"])
    with pytest.raises(ValueError, match="different lengths"):
        learning_curve({"epoch": [0, 1], "loss": [1.0]}, tmp_path / "lc.png")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        learning_curve(tmp_path / "missing.csv", tmp_path / "lc.png")


def test_energy_trace_plot(tmp_path) -> None:
    times = np.arange(0.0, 100.0, 1.0)
    potential = -100.0 + 0.5 * np.sin(times / 5.0)
    kinetic = 0.5 - 0.5 * np.sin(times / 5.0) + 1e-4 * times
    energies = {"potential": potential, "kinetic": kinetic}
    assert_png(energy_trace_plot(times, energies, tmp_path / "nve.png", n_atoms=32))
    with pytest.raises(ValueError, match=r"energies\['potential'\] has 3 values for 100 times"):
        energy_trace_plot(times, {"potential": potential[:3]}, tmp_path / "bad.png")


def test_plots_leave_pyplot_and_the_backend_alone(tmp_path) -> None:
    backend = matplotlib.get_backend()
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    parity_plot(np.arange(5.0), np.arange(5.0), tmp_path / "p.png", "energy", "eV")
    assert plt.get_fignums() == before
    assert matplotlib.get_backend() == backend
