"""Distillation and multi-fidelity fine-tuning: a model pretrained on many cheap (teacher)
labels is fine-tuned on few expensive labels while it replays the teacher's frames.

Each optimizer step minimizes the composite loss

    loss(expensive batch, main energy) + replay_weight x loss(teacher batch, teacher energy)

where the teacher energy is the main energy (one head: the teacher's frames pull the
model towards the teacher wherever the expensive frames say nothing) or, with
``distillation.teacher_head``, the main energy plus a per-atom correction read from the
shared final node features (multi-head: the correction absorbs what the two levels of
theory disagree on, so the teacher trains the shared encoder without pulling the main
energy). The correction head starts at zero, so the teacher energy starts equal to the
pretrained model. Forces and stress of either energy come from autograd as always.

The two levels of theory usually have different energy references (E0 per element): with
``align_reference`` the pretrained model's E0 are shifted by the least-squares offsets
that best map its energies onto the expensive training energies, and the teacher labels
are shifted by the same amounts, before the first step (`reference_offsets`).

The replay batch of step ``s`` depends only on ``(seed, s)``, so a resumed run replays the
same frames as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import Tensor, nn

from ..config.heads import HeadConfig
from ..config.train import DistillationSection, TrainConfig
from ..data import AtomicGraph, GraphDataset, LabelKeys, batch_graphs
from ..data.shipped import resolve_data_path
from ..models import EquivariantPotential, ModelOutput
from ..models.derivatives import derive_outputs
from ..models.potential import check_graph_cutoff
from .data import GraphBatch
from .errors import FinetuneError, NonFiniteLossError, TrainingDataError
from .initialization import RunSetup
from .losses import TERMS, LossWeights, prediction_errors
from .module import PotentialModule

__all__ = [
    "DistillationModule",
    "TeacherHeadPotential",
    "add_teacher_head",
    "load_replay_data",
    "prepare_distillation",
    "reference_offsets",
    "replay_loss_weights",
]


# ----------------------------------------------------------------------- teacher head
def add_teacher_head(model: EquivariantPotential, name: str) -> EquivariantPotential:
    """``model`` with a per-atom invariant head ``name`` (eV per atom; its last linear map
    zero-initialized, so it starts at 0) on its final node features; ``model`` itself if it
    has that head already."""
    if name in model.output_specs():
        spec = model.output_specs()[name]
        if not (spec.per_atom and spec.irreps == "1x0e"):
            raise FinetuneError(
                f"the model already has a head {name!r} that is not a per-atom scalar (irreps 0e, per_atom); "
                "choose another distillation.teacher_head"
            )
        return model
    head = HeadConfig(name=name, kind="irreps", irreps="0e", per_atom=True, scale=float(model.scale), unit="eV")
    config = model.config.model_validate({**model.config.model_dump(), "heads": [*model.config.model_dump()["heads"], head.model_dump()]})
    widened = model.widened(config)
    assert widened.heads is not None
    with torch.no_grad():  # the last linear map only: the earlier ones keep their gradients
        for parameter in widened.heads[name].projection.mix.parameters():
            parameter.zero_()
    return widened


def teacher_output(
    model: EquivariantPotential, head: str, graph: AtomicGraph, outputs: set[str] | frozenset[str], create_graph: bool
) -> ModelOutput:
    """Energy (eV) and derivatives of the teacher's level of theory: the main atomic
    energies plus head ``head``'s per-atom correction, in one pass through the encoder."""
    check_graph_cutoff(graph.cutoff, model.cutoff)
    if graph.dtype != model.dtype:
        graph = graph.to(dtype=model.dtype)
    species = model.species_of(graph)
    assert model.heads is not None

    def energies(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
        atomic, features = model.energies_and_features(graph, positions, cell, not create_graph, species)
        return atomic + model.heads[head](features, graph, positions)[:, 0]

    return derive_outputs(energies, graph, frozenset(outputs), create_graph)


class TeacherHeadPotential(nn.Module):
    """The teacher's level of theory of a multi-head model as a `Potential` (energy = main +
    correction head, see the module docstring; on the reference of the expensive labels
    when the run aligned them): ``TeacherHeadPotential(model, "gfn1")``."""

    def __init__(self, model: EquivariantPotential, head: str):
        super().__init__()
        if head not in model.output_specs():
            raise ValueError(f"the model has no head {head!r} (its heads: {sorted(model.output_specs())})")
        self.model, self.head = model, head

    def forward(self, graph: AtomicGraph, outputs: Any = ("energy", "forces"), create_graph: bool | None = None) -> ModelOutput:
        create_graph = self.training if create_graph is None else create_graph
        return teacher_output(self.model, self.head, graph, set(outputs), create_graph)

    def output_specs(self) -> dict:
        return {}

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    @property
    def species(self) -> list[str]:
        return self.model.species

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def device(self) -> torch.device:
        return self.model.device


# ------------------------------------------------------------------------ replay data
def replay_loss_weights(config: TrainConfig) -> LossWeights:
    """Energy, force and stress weights of the teacher batch (the loss section's where not given)."""
    section, loss = config.distillation, config.loss
    assert section is not None
    given = {term: getattr(section, f"{term}_weight") for term in TERMS}
    return LossWeights(**{term: getattr(loss, f"{term}_weight") if w is None else w for term, w in given.items()})


def load_replay_data(config: TrainConfig, model: EquivariantPotential) -> GraphDataset:
    """The teacher-labelled frames of ``config.distillation`` as graphs of ``model``'s cutoff,
    with every label the replay loss needs (`TrainingDataError` naming the first without)."""
    section = config.distillation
    assert section is not None
    keys = config.data.keys
    label_keys = LabelKeys(energy=keys.energy, forces=keys.forces, stress=keys.stress)
    dtype = getattr(torch, config.dtype)
    parts = [
        GraphDataset.from_file(resolve_data_path(name), model.cutoff, keys=label_keys, dtype=dtype, index=section.replay_index)
        for name in section.replay_files()
    ]
    replay = parts[0] if len(parts) == 1 else GraphDataset.concatenate(parts)
    weights = replay_loss_weights(config)
    for term in TERMS:
        if weights[term] <= 0:
            continue
        missing = [n for g, n in zip(replay.graphs, replay.names, strict=False) if term not in g.graph_targets | g.atom_targets]
        if missing:
            raise TrainingDataError(
                f"replay data: {len(missing)} of {len(replay)} structures have no {term} (key {getattr(keys, term)!r}), "
                f"e.g. {missing[0]}, but the replay {term} weight is {weights[term]}. Set distillation.{term}_weight: 0, "
                f"or label the frames with {term} (equipot.train.label_frames)"
            )
    unknown = sorted({chemical_symbols[int(z)] for g in replay.graphs for z in g.atomic_numbers.unique()} - set(model.species))
    if unknown:
        raise TrainingDataError(
            f"replay data contain {unknown}, which the model of finetune_from ({model.species}) does not know; "
            "pretrain on frames with every element of the replay data"
        )
    return replay


def _composition(graphs: list[AtomicGraph], model: EquivariantPotential) -> np.ndarray:
    """[n_graphs, n_species] atom counts per species of ``model``."""
    counts = np.zeros((len(graphs), len(model.species)))
    for row, graph in enumerate(graphs):
        species = model.species_indices(graph.atomic_numbers.to(model.device)).cpu().numpy()
        np.add.at(counts[row], species, 1.0)
    return counts


def reference_offsets(model: EquivariantPotential, dataset: GraphDataset, batch_size: int = 16) -> np.ndarray:
    """[n_species] energy offsets c (eV per atom of each species) minimizing
    ``sum_k (E_k - E_model,k - sum_s n_ks c_s)^2`` over ``dataset``'s structures with an
    energy (the minimum-norm solution: one composition fixes only ``sum_s n_s c_s``)."""
    graphs = [g for g in dataset.graphs if "energy" in g.graph_targets]
    if not graphs:
        return np.zeros(len(model.species))
    residuals = []
    for start in range(0, len(graphs), batch_size):
        batch = batch_graphs(graphs[start : start + batch_size]).to(device=model.device, dtype=model.dtype)
        with torch.no_grad():
            predicted = model(batch, outputs={"energy"}, create_graph=False).energy
        residuals.append((batch.graph_targets["energy"] - predicted).double().cpu().numpy())
    offsets, *_ = np.linalg.lstsq(_composition(graphs, model), np.concatenate(residuals), rcond=None)
    return offsets


def _shift_energies(dataset: GraphDataset, offsets: np.ndarray, model: EquivariantPotential) -> None:
    """Add ``sum_s n_s offsets_s`` to each structure's energy label, in place."""
    shifts = _composition(dataset.graphs, model) @ offsets
    for graph, shift in zip(dataset.graphs, shifts, strict=True):
        if "energy" in graph.graph_targets:
            graph.graph_targets["energy"] = graph.graph_targets["energy"] + float(shift)


def prepare_distillation(setup: RunSetup) -> GraphDataset:
    """Ready a fine-tuning run of ``setup`` for distillation, in place: add the teacher head
    (``setup.model`` becomes the widened model), align the energy references (the model's
    E0 and the teacher labels), record the offsets in ``setup.extra_info``. Returns the
    replay frames."""
    config = setup.config
    section: DistillationSection | None = config.distillation
    model = setup.model
    if section is None:
        raise ValueError("prepare_distillation needs a config with a distillation section")
    if not isinstance(model, EquivariantPotential):
        raise FinetuneError("distillation fine-tunes an EquivariantPotential (long-range models are not supported yet)")
    replay = load_replay_data(config, model)
    if section.teacher_head is not None:
        model = add_teacher_head(model, section.teacher_head)
    offsets = np.zeros(len(model.species))
    if section.align_reference:
        offsets = reference_offsets(model.eval(), setup.data.train, config.resolved_valid_batch_size())
        with torch.no_grad():
            model.atomic_energies += torch.as_tensor(offsets, dtype=model.dtype, device=model.device)
        _shift_energies(replay, offsets, model)
    setup.model = model.train()
    setup.extra_info["distillation"] = {
        "teacher_head": section.teacher_head,
        "reference_offsets_eV": dict(zip(model.species, (float(c) for c in offsets), strict=True)),
        "n_replay": len(replay),
    }
    return replay


# --------------------------------------------------------------------------- training
class DistillationModule(PotentialModule):
    """`PotentialModule` whose training loss adds ``replay_weight`` x the loss of a batch of
    teacher frames (`replay`), through the teacher head if the config names one.
    Validation, model selection and the saved model are those of the main energy on the
    expensive validation set; ``epoch_record`` gains ``replay_loss`` (mean over the epoch)."""

    def __init__(self, model: EquivariantPotential, config: TrainConfig, replay: GraphDataset, train_names: list[str] | None = None, run_info: dict[str, Any] | None = None):
        super().__init__(model, config, train_names, run_info)
        assert config.distillation is not None
        self.section = config.distillation
        self.replay = replay
        self.replay_weights = replay_loss_weights(config)
        self._replay_sums = torch.zeros(2, dtype=torch.float64)

    def replay_indices(self, step: int) -> list[int]:
        """Indices of the teacher frames replayed at optimizer step ``step`` by this process."""
        size = min(self.section.replay_batch_size or self.config.batch_size, len(self.replay))
        chosen = np.random.default_rng([self.config.seed, 7919, step]).choice(len(self.replay), size=size, replace=False)
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self._trainer is not None else (0, 1)
        return sorted(chosen.tolist())[rank::world]

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._replay_sums = torch.zeros(2, dtype=torch.float64)

    def training_step(self, batch: GraphBatch, batch_idx: int) -> Tensor:
        loss = super().training_step(batch, batch_idx)
        if self.section.replay_weight == 0:
            return loss
        indices = self.replay_indices(self.global_step)
        graph = batch_graphs([self.replay[i] for i in indices]).to(device=self.device)
        outputs = self.replay_weights.outputs()
        if self.section.teacher_head is None:
            output = self.model(graph, outputs=outputs, create_graph=True)
        else:
            output = teacher_output(self.model, self.section.teacher_head, graph, outputs, create_graph=True)  # type: ignore[arg-type]
        replay = self.loss_fn(prediction_errors(output, graph), self.replay_weights)
        if not bool(torch.isfinite(replay.detach())):
            names = ", ".join(self.replay.names[i] for i in indices[:8])
            raise NonFiniteLossError(
                f"the replay loss is {float(replay.detach())} at step {self.global_step} on {names}; check these "
                "teacher labels, lower optimizer.lr or distillation.replay_weight"
            )
        self._replay_sums += torch.tensor([float(replay.detach()) * graph.n_graphs, graph.n_graphs], dtype=torch.float64)
        return loss + self.section.replay_weight * replay

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        total, count = self._reduce_sum(self._replay_sums).tolist()
        if self.epoch_record and count:
            self.epoch_record["replay_loss"] = total / count
