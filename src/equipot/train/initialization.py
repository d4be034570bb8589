"""Everything before the first step: data, statistics, and a model that knows them.

Statistics are computed once, on the training set: reference energies E0 per element
(least squares, or given as ``atomic_energies``), the mean residual energy per atom
(``shift``, eV/atom), the force RMS (``scale``, eV/Å; 1 without forces) and the average
number of neighbors, as MACE does. A fine-tuned model keeps its own normalization (only
the ``atomic_energies`` given in the config replace its E0).

With ``model.long_range`` the model is a `LongRangePotential` (the local model plus the
Coulomb energy of learned charges); the normalization applies to its local part (fitted to
the energies minus the Coulomb energy of the reference charges when ``charges`` is a loss
target), and its outputs ``charges`` (per atom, e) and ``dipole`` (molecules, e·Å) may be
loss targets. The charge head's per-element part starts from ``long_range.initial_charges``
when given (the normalization then fitted without their Coulomb energy), else from the
reference charges of a ``charges`` target (`ChargeHead.start_from_charges`).

With ``model.density_embedding`` the densities of the embedded-density readout are
normalized on the training structures; a fine-tune whose config sets
``model.density_embedding`` on a model pretrained without one adds the readout at zero
(`with_density_embedding`).

Where E0 came from is recorded in the model file's metadata as ``atomic_energies_source``
(see `DatasetStatistics.atomic_energies_source`; a fine-tune inherits its base model's,
or ``"config"`` when the config gives every element).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import warnings

import torch
from ase.data import atomic_numbers, chemical_symbols

from ..config import DensityEmbeddingConfig, ModelConfig
from ..config.train import ConfigError, TrainConfig
from ..data import AtomicEnergiesWarning, AtomicGraph, DatasetStatistics, compute_statistics
from ..longrange import (
    LONG_RANGE_OUTPUTS,
    LongRangePotential,
    build_potential,
    coulomb_energy_of,
    energies_without_reference_coulomb,
)
from ..models import EquivariantPotential
from ..models.io import load_model
from .data import TrainingData, load_training_data
from .errors import FinetuneError, TrainingDataError

__all__ = ["RunSetup", "prepare_run", "resolve_config"]


@dataclass
class RunSetup:
    """What a run starts from: ``config`` is resolved (species filled in, absolute paths)."""

    config: TrainConfig
    data: TrainingData
    model: EquivariantPotential | LongRangePotential
    statistics: DatasetStatistics
    #: further JSON-like records for the model files (e.g. ``distillation``)
    extra_info: dict[str, Any] = field(default_factory=dict)

    def run_info(self) -> dict[str, Any]:
        """JSON-like record stored in checkpoints and model files."""
        return {
            "config": self.config.model_dump(mode="json"),
            "statistics": self.statistics.to_dict(),
            "atomic_energies_source": self.statistics.atomic_energies_source,
            **self.extra_info,
        }


def prepare_run(config: TrainConfig) -> RunSetup:
    """Read the data, compute statistics and build (or load, to fine-tune) the model.

    Call after seeding: the initial weights come from torch's random generator.
    """
    dtype = getattr(torch, config.dtype)
    base = load_model(_path(config.finetune_from), dtype=dtype) if config.finetune_from else None
    if isinstance(base, LongRangePotential):
        raise FinetuneError(
            f"{config.finetune_from} is a long-range model; fine-tuning one is not supported yet: train a new "
            "model with model.long_range (remove finetune_from)"
        )
    model_config = base.config if base is not None else config.model
    extra = _further_outputs(model_config)
    _check_targets(config, extra, config.finetune_from)
    per_atom = frozenset(name for name, is_per_atom in extra.items() if is_per_atom)
    data = load_training_data(config, model_config.cutoff, per_atom)
    given = {atomic_numbers[symbol]: energy for symbol, energy in (config.atomic_energies or {}).items()}
    if base is not None:
        model = _finetuned(base, config, data, given)
        statistics = _finetune_statistics(model, data, given)
    else:
        statistics = compute_statistics(_statistics_graphs(config, data), atomic_energies=given or None)
        if statistics.avg_num_neighbors == 0.0:  # message sums divide by it: the first loss would be NaN
            raise TrainingDataError(
                f"no two atoms of the training data lie within model.cutoff = {model_config.cutoff} Å of each "
                "other, so the model would see isolated atoms only and could learn nothing; set model.cutoff "
                "above the nearest-neighbour distance of your structures (3 to 6 Å is usual)"
            )
        model = _new_model(config, data, statistics, dtype)
    resolved = resolve_config(config, model)
    return RunSetup(config=resolved, data=data, model=model.train(), statistics=statistics)


def _statistics_graphs(config: TrainConfig, data: TrainingData) -> list[AtomicGraph]:
    """The training graphs the normalization is fitted on: with ``model.long_range`` and a
    ``charges`` loss target, their energies minus the Coulomb energy of the reference charges
    (what the local part has to learn; `energies_without_reference_coulomb`); with
    ``charges: fixed``, minus that of the fixed charges, and with ``initial_charges``
    (neutral, qeq), minus that of the charges the charge head starts from."""
    settings = config.model.long_range
    if settings is not None and settings.charges == "fixed":  # known charges: subtract theirs
        return energies_without_reference_coulomb(data.train.graphs, coulomb_energy_of(settings), fixed_charges=settings.fixed_charges)
    if settings is not None and settings.initial_charges is not None:  # where the charges start: subtract theirs
        table = {chemical_symbols[z]: 0.0 for z in data.atomic_numbers()} | settings.initial_charges
        return energies_without_reference_coulomb(data.train.graphs, coulomb_energy_of(settings), fixed_charges=table)
    if settings is None or "charges" not in config.loss.targets:
        return list(data.train.graphs)
    return energies_without_reference_coulomb(data.train.graphs, coulomb_energy_of(settings))


def _path(name: str) -> Path:
    return Path(name).expanduser()


def _new_model(
    config: TrainConfig, data: TrainingData, statistics: DatasetStatistics, dtype: torch.dtype
) -> EquivariantPotential | LongRangePotential:
    symbols = [chemical_symbols[z] for z in data.atomic_numbers()]
    species = config.model.species
    if species is not None:
        missing = [s for s in symbols if s not in species]
        if missing:
            raise TrainingDataError(
                f"the data contain {missing}, which model.species {species} does not list; add "
                "them, or remove model.species to use the elements of the data"
            )
    model_config = config.model.with_species(species or symbols)
    model = build_potential(_with_head_scales(model_config, data), dtype=dtype)
    settings = config.model.long_range
    if isinstance(model, LongRangePotential) and settings is not None and settings.charges != "fixed":
        if settings.initial_charges is not None:
            model.charge_head.start_from_charges(data.train.graphs, model.coulomb, table=settings.initial_charges)
        elif "charges" in config.loss.targets:
            model.charge_head.start_from_charges(data.train.graphs, model.coulomb)
    local_part(model).set_normalization(
        atomic_energies=statistics.atomic_energies,
        scale=statistics.force_rms or 1.0,
        shift=statistics.mean_residual_energy_per_atom or 0.0,
        avg_num_neighbors=statistics.avg_num_neighbors,
    )
    local_part(model).fit_density_normalization(data.train.graphs)
    return model


def local_part(model: EquivariantPotential | LongRangePotential) -> EquivariantPotential:
    """The local model: ``model`` itself, or the local part of a `LongRangePotential`."""
    return model.local if isinstance(model, LongRangePotential) else model


def _further_outputs(config: ModelConfig) -> dict[str, bool]:
    """Outputs beyond energy, forces and stress that can be loss targets, by name: per atom or not
    (the heads, and with ``long_range`` the charges and the dipole)."""
    outputs = {head.name: head.per_atom for head in config.heads}
    if config.long_range is not None and config.long_range.charges != "fixed":  # fixed charges learn nothing
        outputs.update({name: LONG_RANGE_OUTPUTS[name].per_atom for name in ("charges", "dipole")})
    return outputs


def _check_targets(config: TrainConfig, outputs: dict[str, bool], source: str | None) -> None:
    """Every loss target must be an output of the model (a head, or a long-range output)."""
    names = list(outputs)
    unknown = [name for name in config.loss.targets if name not in names]
    if unknown:
        where = f"the model in {source}" if source else "model.heads"
        raise ConfigError(
            f"loss.targets names {unknown}, but {where} has no head of that name (heads: {names}); "
            f"declare one, e.g. model.heads: [{{name: {unknown[0]}, kind: dipole}}] (kinds: irreps, dipole, "
            "polarizability, cartesian)"
            + _charge_target_hint(config, unknown)
        )


def _charge_target_hint(config: TrainConfig, unknown: list[str]) -> str:
    """Why a ``charges`` or ``dipole`` target has no output to train."""
    if not {"charges", "dipole"} & set(unknown):
        return ""
    settings = config.model.long_range
    if settings is not None and settings.charges == "fixed":
        return (
            "; with model.long_range.charges: fixed the charges (and so the dipole) are set by fixed_charges and a "
            "charges or dipole loss would train nothing: remove it, or learn charges with charges: neutral or qeq"
        )
    return "; learned charges come with a model.long_range section (docs/longrange.md)" if "charges" in unknown else ""


def _with_head_scales(config: ModelConfig, data: TrainingData) -> ModelConfig:
    """``config`` with each unset head ``scale`` set to the RMS of its training labels
    (all components; 1 without labels), so that the heads start at the labels' magnitude."""
    heads = []
    for head in config.heads:
        if head.scale is None:
            labels = [g.graph_targets.get(head.name, g.atom_targets.get(head.name)) for g in data.train.graphs]
            values = [label.double().reshape(-1) for label in labels if label is not None]
            rms = float(torch.cat(values).square().mean().sqrt()) if values else 1.0
            head = head.model_copy(update={"scale": rms if rms > 0 else 1.0})
        heads.append(head.model_dump())
    return ModelConfig.model_validate({**config.model_dump(), "heads": heads})


def _finetuned(
    model: EquivariantPotential, config: TrainConfig, data: TrainingData, given: dict[int, float]
) -> EquivariantPotential:
    source = config.finetune_from
    symbols = [chemical_symbols[z] for z in data.atomic_numbers()]
    missing = [s for s in symbols if s not in model.species]
    if missing:
        raise FinetuneError(
            f"the data contain {missing}, but the model to fine-tune ({source}) knows only "
            f"{model.species}; fine-tune a model whose species include {missing}, or train a "
            "new model (remove finetune_from)"
        )
    stored = model.config.model_dump()
    adds_embedding = config.model.density_embedding is not None and stored["density_embedding"] is None
    conflicts = [
        f"model.{name}: {getattr(config.model, name)!r} in the config, {stored[name]!r} in {source}"
        for name in sorted(config.model.model_fields_set - ({"density_embedding"} if adds_embedding else set()))
        if getattr(config.model, name) != stored[name]
    ]
    if conflicts:
        raise FinetuneError(
            "finetune_from takes the architecture from the model file, but the config asks for "
            "another:\n  " + "\n  ".join(conflicts) + "\nremove these keys from the model section"
        )
    if adds_embedding:
        assert config.model.density_embedding is not None
        model = with_density_embedding(model, config.model.density_embedding, data.train.graphs)
    if given:
        model.set_normalization(atomic_energies=given)
    return model


def with_density_embedding(
    model: EquivariantPotential, embedding: DensityEmbeddingConfig, graphs: Sequence[AtomicGraph]
) -> EquivariantPotential:
    """A copy of ``model`` with an embedded-density readout added (its output layer at zero:
    the same energies as ``model``), its density normalization fitted on ``graphs``. How a
    fine-tune adds ``model.density_embedding`` to a model pretrained without it."""
    config = ModelConfig.model_validate({**model.config.model_dump(), "density_embedding": embedding.model_dump()})
    widened = model.widened(config)
    widened.fit_density_normalization(graphs)
    return widened


def _finetune_statistics(model: EquivariantPotential, data: TrainingData, given: dict[int, float]) -> DatasetStatistics:
    """Statistics of the fine-tuning data relative to the E0 the model keeps (its own, or
    those given), with the source of those E0: the base model's, or ``"config"``."""
    symbols = list(model.species)
    kept = {atomic_numbers[s]: float(e) for s, e in zip(symbols, model.atomic_energies.tolist())}
    statistics = compute_statistics(data.train.graphs, atomic_energies={**kept, **given})
    metadata = getattr(model, "metadata", {}) or {}
    base_source = str(metadata.get("atomic_energies_source", "unknown"))
    if all(atomic_numbers[s] in given for s in symbols):
        source = "config"
    else:
        source = f"config+{base_source}" if given else base_source
        if base_source.endswith("mean_energy_per_atom"):
            warnings.warn(
                f"the model to fine-tune took its reference energies (E0) from the mean energy per atom "
                "(its training energies could not separate the elements); the fine-tuned model inherits "
                "that baseline. Give atomic_energies (isolated-atom energies, eV) in the config to replace it",
                AtomicEnergiesWarning,
                stacklevel=3,
            )
    statistics.atomic_energies_source = source
    return statistics


def resolve_config(config: TrainConfig, model: EquivariantPotential | LongRangePotential) -> TrainConfig:
    """``config`` with the model section of ``model`` (species filled in; with
    ``finetune_from``, the file's architecture) and file paths made absolute (for resuming
    from another directory)."""
    data = config.model_dump()
    def absolute(name: str) -> str:
        return name if name.startswith("shipped:") else str(_path(name).resolve())

    for key in ("train_file", "valid_file", "test_file"):
        name = data["data"][key]
        if isinstance(name, list):
            data["data"][key] = [absolute(item) for item in name]
        elif name is not None:
            data["data"][key] = absolute(name)
    data["output_dir"] = str(_path(config.output_dir).resolve())
    if config.finetune_from is not None:
        data["finetune_from"] = str(_path(config.finetune_from).resolve())
    if config.distillation is not None:
        replay = data["distillation"]["replay_file"]
        data["distillation"]["replay_file"] = [absolute(n) for n in replay] if isinstance(replay, list) else absolute(replay)
    data["model"] = local_part(model).config.model_dump()
    return TrainConfig.model_validate(data)
