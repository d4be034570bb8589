"""What the figures say: counts that read like the error table, units in the legends, and
legends that hide no data. Each figure is inspected as it is saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

import equipot.plots.curves as curves
import equipot.plots.parity as parity
import equipot.plots._figure as figure_module  # equipot.simulate.plots imports save_figure when it draws
from equipot.plots import energy_trace_plot, write_evaluation_plots
from equipot.simulate import MDResult, plot_md
from equipot.evaluation import EvaluationResult


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """File name -> figure, drawn, for every figure the plot modules save."""
    figures: dict[str, dict] = {}

    def keep(module):  # noqa: ANN001, ANN202
        original = module.save_figure

        def save(figure: Figure, path) -> Path:  # noqa: ANN001
            figure.canvas.draw()
            figures[Path(path).name] = {"texts": [t.get_text() for t in figure.findobj(Text)],
                                        "problems": _legends_over_data(figure)}
            return original(figure, path)

        monkeypatch.setattr(module, "save_figure", save)

    for module in (parity, curves, figure_module):
        keep(module)
    return figures


def _legends_over_data(figure: Figure) -> list[str]:
    """Axes whose legend covers a data point (line vertices, histogram outlines)."""
    problems = []
    for axes in figure.axes:
        legend = axes.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent()
        points = [line.get_transform().transform(line.get_xydata()) for line in axes.get_lines()]
        points += [patch.get_transform().transform(patch.get_path().vertices) for patch in axes.patches]
        for xy in points:
            inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
            if inside.any():
                problems.append(f"{axes.get_ylabel()}: {int(inside.sum())} points under the legend")
    return problems


def _evaluation(n_structures: int = 40, atoms_per_structure: int = 9) -> EvaluationResult:
    rng = np.random.default_rng(0)
    n_atoms = n_structures * atoms_per_structure
    forces = rng.normal(0.0, 1.0, (n_atoms, 3))
    energy = rng.normal(-3.5, 0.02, n_structures)
    stress = rng.normal(0.0, 0.01, (n_structures, 6))
    return EvaluationResult(
        energy_per_atom_reference=energy,
        energy_per_atom_predicted=energy + rng.normal(0.0, 0.002, n_structures),
        energy_n_atoms=np.full(n_structures, atoms_per_structure),
        forces_reference=forces,
        forces_predicted=forces + rng.normal(0.0, 0.05, forces.shape),
        forces_atomic_numbers=np.where(np.arange(n_atoms) % 3 == 0, 8, 1),
        stress_reference=stress,
        stress_predicted=stress + rng.normal(0.0, 0.001, stress.shape),
    )


def test_parity_counts_read_like_the_error_table(saved, tmp_path) -> None:
    write_evaluation_plots(_evaluation(), tmp_path)
    assert any(text.endswith("N = 40 structures") for text in saved["parity_energy.png"]["texts"])
    assert any(text.endswith("N = 360 atoms (1080 components)") for text in saved["parity_forces.png"]["texts"])
    assert any(text.endswith("N = 40 structures (240 components)") for text in saved["parity_stress.png"]["texts"])


def test_error_histogram_legends_carry_units_and_hide_no_bins(saved, tmp_path) -> None:
    write_evaluation_plots(_evaluation(), tmp_path)
    texts = saved["error_histogram.png"]["texts"]
    assert any(text.startswith("energy per atom (MAE ") and text.endswith(" meV/atom)") for text in texts)
    assert any(text.startswith("H (MAE ") and text.endswith(" meV/Å)") for text in texts)
    assert any(text.startswith("stress component (MAE ") and text.endswith(" meV/Å³)") for text in texts)
    assert saved["error_histogram.png"]["problems"] == []


def _nve_like(n_frames: int = 201) -> dict[str, np.ndarray]:
    """Energies as in a small molecule's NVE run: kinetic and potential swing by tenths
    of an eV across the whole time range, the total stays flat."""
    rng = np.random.default_rng(1)
    kinetic = 0.4 + 0.1 * rng.standard_normal(n_frames)
    return {"times": np.linspace(0.0, 1000.0, n_frames), "kinetic": kinetic, "potential": -10.0 - kinetic,
            "total": np.full(n_frames, -10.0) + 1e-4 * rng.standard_normal(n_frames)}


def test_nve_energy_legend_hides_no_curve(saved, tmp_path) -> None:
    md = _nve_like()
    energies = {"total": md["total"], "potential": md["potential"], "kinetic": md["kinetic"]}
    energy_trace_plot(md["times"], energies, tmp_path / "nve_energy.png", n_atoms=9)
    assert saved["nve_energy.png"]["problems"] == []


def test_md_plot_legends_hide_no_curve(saved, tmp_path) -> None:
    md = _nve_like()
    result = MDResult(
        times_fs=md["times"], potential_energy=md["potential"], kinetic_energy=md["kinetic"],
        total_energy=md["total"], temperature_K=300.0 + 80.0 * np.random.default_rng(2).standard_normal(md["times"].size),
        n_atoms=9, timestep_fs=0.5, steps=2000, ensemble="nvt", target_temperature_K=300.0,
    )
    plot_md(result, tmp_path / "md.png")
    assert saved["md.png"]["problems"] == []
