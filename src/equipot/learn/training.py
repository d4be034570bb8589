"""Training of one round: a committee, or one model with its own uncertainty estimators,
trained from scratch or fine-tuned from the previous round's model(s)."""

from __future__ import annotations

from pathlib import Path

from ..config.learn import FinetuneSection, SelectionSection
from ..config.train import TrainConfig
from ..data import GraphDataset
from ..models import Potential
from ..models.io import load_model
from ..train import fit, fit_committee
from ..uq import Committee, UncertaintyPotential, fit_descriptor_distances, fit_last_layer_uncertainty, load_committee

__all__ = ["previous_round_models", "round_train_config", "train_round"]


def round_train_config(
    base: TrainConfig, train_file: Path, output_dir: Path, finetune: FinetuneSection | None = None
) -> TrainConfig:
    """``base`` training on ``train_file`` into ``output_dir``; with ``finetune``, the
    config of a fine-tune: ``finetune.max_epochs`` (and ``finetune.lr``), the model section
    left to the file that `train_round` continues from."""
    data = base.model_dump()
    data["data"]["train_file"] = str(train_file)
    data["output_dir"] = str(output_dir)
    if finetune is not None:
        del data["model"]  # the architecture comes from the model file fine-tuned
        data["max_epochs"] = finetune.max_epochs
        if finetune.lr is not None:
            data["optimizer"]["lr"] = finetune.lr
    return TrainConfig.model_validate(data)


def previous_round_models(train_dir: Path, selection: SelectionSection) -> list[Path]:
    """The best model file(s) that the round trained in ``train_dir`` wrote: one per
    committee member (``member_<i>/model.pt``), or ``model.pt``."""
    if selection.estimator == "committee":
        paths = [train_dir / f"member_{i}" / "model.pt" for i in range(selection.committee_size)]
    else:
        paths = [train_dir / "model.pt"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"cannot fine-tune: the previous round's model files {missing} are missing; "
                                "remove the finetune section to train from scratch")
    return paths


def train_round(
    config: TrainConfig, selection: SelectionSection, bases: list[Path] | None = None
) -> tuple[Potential, Potential]:
    """Train as ``selection.estimator`` asks; returns ``(scoring potential, feature model)``:
    a `Committee` (and its first member) or an `UncertaintyPotential` (and its model).

    ``bases`` (from `previous_round_models`): fine-tune from these files (committee member
    i from ``bases[i]``) instead of training from scratch. Runs resume
    (``fit(..., resume=True)``): a round killed while training continues from its last
    checkpoint."""
    if selection.estimator == "committee":
        result = fit_committee(config, n_members=selection.committee_size, parallel=1, resume=True,
                               member_bases=list(bases) if bases is not None else None)
        committee = load_committee(result.committee_path)
        assert isinstance(committee, Committee)
        return committee, committee.members[0]
    if bases is not None:
        config = TrainConfig.model_validate({**config.model_dump(exclude={"model"}), "finetune_from": str(bases[0])})
    result = fit(config, resume=True)
    model = load_model(result.best_model_path)
    graphs = GraphDataset.from_file(config.data.train_files()[0], model.cutoff, require=("energy",), dtype=model.dtype)
    if selection.estimator == "last_layer":
        potential = UncertaintyPotential(model, last_layer=fit_last_layer_uncertainty(model, graphs))
    else:
        potential = UncertaintyPotential(model, descriptors=fit_descriptor_distances(model, graphs))
    return potential, model
