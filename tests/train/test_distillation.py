"""Distillation: label frames with a teacher, pretrain on them, fine-tune on a few expensive
frames with replay, with one head or a separate teacher head on the shared encoder."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.calculators.morse import MorsePotential
from train_helpers import tiny_config, write_copper

from equipot import load_model
from equipot.config.train import ConfigError, parse_train_config
from equipot.data import graph_from_atoms
from equipot.train import TeacherHeadPotential, TeacherLabelError, fit, label_frames, reference_offsets
from equipot.train.distillation import add_teacher_head
from equipot.data import GraphDataset

#: a Morse pair potential near Cu (the teacher: cheap, obeys the Cauchy relation)
MORSE_CU = {"epsilon": 0.34, "r0": 2.6, "rho0": 3.5, "rcut1": 3.5, "rcut2": 4.5}


def _cells(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", cubic=True)
        strain = np.eye(3) + 0.02 * rng.uniform(-1, 1, (3, 3))
        atoms.set_cell(atoms.cell @ (strain + strain.T) / 2, scale_atoms=True)
        atoms.rattle(0.05, seed=int(rng.integers(1 << 31)))
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Teacher-labelled frames (Morse) and a tiny model pretrained on them."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("teacher")
    teacher_file = folder / "teacher.xyz"
    label_frames(_cells(12, seed=1), MorsePotential(**MORSE_CU), output=teacher_file)
    result = fit(tiny_config(teacher_file, folder / "pretrain", max_epochs=2, loss={"stress_weight": 1.0}))
    return teacher_file, result.best_model_path


def test_label_frames_stores_the_teachers_labels(tmp_path: Path) -> None:
    frames = _cells(2, seed=5)
    labelled = label_frames(frames, EMT(), output=tmp_path / "emt.xyz")
    read = ase.io.read(tmp_path / "emt.xyz", ":")
    for atoms, copy in zip(frames, read, strict=True):
        atoms.calc = EMT()
        assert copy.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(copy.get_forces(), atoms.get_forces(), atol=1e-8)
        np.testing.assert_allclose(copy.get_stress(), atoms.get_stress(), atol=1e-10)
    assert frames[0].calc is not labelled[0].calc  # the inputs are left as they were


class _Failing(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):  # noqa: ANN001
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": float("nan"), "forces": np.zeros((len(atoms), 3))}


def test_label_frames_names_a_frame_with_a_non_finite_label() -> None:
    with pytest.raises(TeacherLabelError, match="frame 0: the teacher _Failing returned non-finite energy"):
        label_frames(_cells(1, seed=0), _Failing(), stress=False)


def test_label_frames_with_an_equipot_model(teacher_run: tuple[Path, Path]) -> None:
    _, model_file = teacher_run
    (labelled,) = label_frames(_cells(1, seed=2), model_file)
    model = load_model(model_file, dtype=torch.float64)
    output = model(graph_from_atoms(labelled, cutoff=model.cutoff), outputs={"energy"})
    assert labelled.get_potential_energy() == pytest.approx(float(output.energy.detach()), abs=1e-4)


def test_the_teacher_head_starts_at_zero_and_is_separate_from_the_main_energy(teacher_run: tuple[Path, Path]) -> None:
    _, model_file = teacher_run
    base = load_model(model_file, dtype=torch.float64)
    model = add_teacher_head(base, "morse")
    graph = graph_from_atoms(_cells(1, seed=3)[0], cutoff=model.cutoff)
    main = model(graph, outputs={"energy", "forces"})
    teacher = TeacherHeadPotential(model, "morse")(graph, outputs={"energy", "forces", "stress"})
    base_output = base(graph, outputs={"energy", "forces"})
    torch.testing.assert_close(main.energy, base_output.energy)
    torch.testing.assert_close(teacher.energy, main.energy)  # the correction starts at zero
    assert teacher.stress is not None
    with torch.no_grad():  # the head changes the teacher energy only
        for parameter in model.heads["morse"].parameters():
            parameter.normal_()
    moved = TeacherHeadPotential(model, "morse")(graph, outputs={"energy", "forces"})
    torch.testing.assert_close(model(graph, outputs={"energy"}).energy, main.energy)
    assert abs(float((moved.energy - main.energy).detach())) > 1e-6
    assert float((moved.forces - main.forces).abs().max().detach()) > 1e-6


def test_reference_offsets_remove_a_constant_shift_per_atom(teacher_run: tuple[Path, Path], tmp_path: Path) -> None:
    teacher_file, model_file = teacher_run
    model = load_model(model_file, dtype=torch.float64)
    frames = ase.io.read(teacher_file, ":")
    for atoms in frames:  # the same labels on another reference: +0.7 eV per atom
        atoms.calc.results["energy"] += 0.7 * len(atoms)
    dataset = GraphDataset(frames, cutoff=model.cutoff)
    base = reference_offsets(model, GraphDataset(ase.io.read(teacher_file, ":"), cutoff=model.cutoff))
    shifted = reference_offsets(model, dataset)
    np.testing.assert_allclose(shifted - base, [0.7], atol=1e-8)


@pytest.mark.parametrize("teacher_head", [None, "morse"])
def test_distillation_fine_tunes_with_replay_end_to_end(
    teacher_run: tuple[Path, Path], tmp_path: Path, teacher_head: str | None, one_thread
) -> None:
    teacher_file, model_file = teacher_run
    expensive = write_copper(tmp_path / "emt.xyz", n=8, seed=4)
    config = tiny_config(
        expensive, tmp_path / "tuned", finetune_from=str(model_file), model={}, max_epochs=2,
        loss={"stress_weight": 1.0},
        distillation={"replay_file": str(teacher_file), "replay_weight": 0.5, "replay_batch_size": 3,
                      "teacher_head": teacher_head},
    )
    result = fit(config)
    rows = Path(result.metrics_path).read_text().splitlines()
    assert "replay_loss" in rows[0] and len(rows) == 3
    replay_losses = [float(row.split(",")[rows[0].split(",").index("replay_loss")]) for row in rows[1:]]
    assert all(np.isfinite(replay_losses)) and min(replay_losses) > 0
    tuned = load_model(result.last_model_path)
    info = tuned.metadata["distillation"]
    assert info["teacher_head"] == teacher_head and info["n_replay"] == 12
    assert set(info["reference_offsets_eV"]) == {"Cu"}
    if teacher_head is None:
        assert tuned.output_specs() == {}
    else:  # the head was trained by the replay loss (it started at zero)
        assert tuned.output_specs()["morse"].per_atom
        assert max(float(p.detach().abs().max()) for p in tuned.heads["morse"].parameters()) > 0


def test_a_resumed_distillation_replays_the_same_frames(teacher_run: tuple[Path, Path], tmp_path: Path, one_thread) -> None:
    teacher_file, model_file = teacher_run
    expensive = write_copper(tmp_path / "emt.xyz", n=8, seed=4)
    common = {"finetune_from": str(model_file), "model": {}, "distillation": {"replay_file": str(teacher_file),
              "teacher_head": "morse", "replay_batch_size": 2}, "ema": {"enabled": False}}
    straight = fit(tiny_config(expensive, tmp_path / "straight", max_epochs=2, **common))
    fit(tiny_config(expensive, tmp_path / "split", max_epochs=1, **common))
    resumed = fit(tiny_config(expensive, tmp_path / "split", max_epochs=2, **common), resume=True)
    a, b = load_model(straight.last_model_path), load_model(resumed.last_model_path)
    for (name, x), y in zip(a.learned_state().items(), b.learned_state().values(), strict=True):
        torch.testing.assert_close(x, y, msg=name)


def test_distillation_config_errors(tmp_path: Path) -> None:
    base = {"data": {"train_file": "emt.xyz"}, "finetune_from": "teacher.pt"}
    with pytest.raises(ConfigError, match="unknown key 'replay' in section 'distillation'; did you mean 'replay_file'"):
        parse_train_config({**base, "distillation": {"replay": "t.xyz"}})
    with pytest.raises(ConfigError, match="distillation: distillation fine-tunes a model pretrained on the teacher's labels: set finetune_from"):
        parse_train_config({"data": {"train_file": "emt.xyz"}, "distillation": {"replay_file": "t.xyz"}})
    with pytest.raises(ConfigError, match="teacher_head 'forces' must be an identifier that is not an energy output"):
        parse_train_config({**base, "distillation": {"replay_file": "t.xyz", "teacher_head": "forces"}})
    with pytest.raises(ConfigError, match="distillation.replay_weight: Input should be greater than or equal to 0"):
        parse_train_config({**base, "distillation": {"replay_file": "t.xyz", "replay_weight": -1}})


def test_replay_frames_without_a_needed_label_are_refused(teacher_run: tuple[Path, Path], tmp_path: Path) -> None:
    teacher_file, model_file = teacher_run
    no_stress = tmp_path / "no_stress.xyz"
    label_frames(_cells(3, seed=7), MorsePotential(**MORSE_CU), output=no_stress, stress=False)
    expensive = write_copper(tmp_path / "emt.xyz", n=8, seed=4)
    config = tiny_config(expensive, tmp_path / "tuned", finetune_from=str(model_file), model={},
                         loss={"stress_weight": 1.0}, distillation={"replay_file": str(no_stress)})
    with pytest.raises(Exception, match=r"replay data: 3 of 3 structures have no stress .* Set distillation.stress_weight: 0"):
        fit(config)
