"""Training of one round: a committee, or one model with its own uncertainty estimators,
trained from scratch or fine-tuned from the previous round's model(s)."""

from __future__ import annotations

import math
from pathlib import Path

import ase.io
import yaml

from ..config.learn import FinetuneSection, SelectionSection
from ..config.train import TrainConfig
from ..data import GraphDataset
from ..models import Potential
from ..models.io import load_model
from ..train import fit, fit_committee, load_training_data, member_config
from ..train.data import training_split_size
from ..uq import (
    Committee,
    UncertaintyPotential,
    calibrate_committee,
    fit_descriptor_distances,
    fit_last_layer_uncertainty,
    load_committee,
    save_committee,
)

__all__ = ["finetune_epochs", "previous_round_models", "round_train_config", "train_round"]


def round_train_config(
    base: TrainConfig, train_file: Path, output_dir: Path, finetune: FinetuneSection | None = None
) -> TrainConfig:
    """``base`` training on ``train_file`` into ``output_dir``; with ``finetune``, the
    config of a fine-tune: `finetune_epochs` epochs, ``finetune.lr``, a cosine schedule
    unless ``finetune.schedule == "train"``, the model section left to the file that
    `train_round` continues from."""
    data = base.model_dump()
    data["data"]["train_file"] = str(train_file)
    data["output_dir"] = str(output_dir)
    if finetune is not None:
        del data["model"]  # the architecture comes from the model file fine-tuned
        data["max_epochs"] = finetune_epochs(finetune, base, len(ase.io.read(train_file, index=":")))
        if finetune.lr is not None:
            data["optimizer"]["lr"] = finetune.lr
        if finetune.schedule == "cosine":
            data["scheduler"]["name"] = "cosine"
    return TrainConfig.model_validate(data)


def finetune_epochs(finetune: FinetuneSection, base: TrainConfig, n_structures: int) -> int:
    """Epochs of a fine-tune on ``n_structures`` labelled structures: ``finetune.max_epochs``,
    raised so that it takes at least ``finetune.min_steps`` optimizer steps (batches of
    ``base.batch_size`` from the structures left after the validation and test hold-outs)."""
    if finetune.min_steps is None:
        return finetune.max_epochs
    batches = math.ceil(max(training_split_size(base.data, n_structures), 1) / base.batch_size)
    return max(finetune.max_epochs, math.ceil(finetune.min_steps / batches))


def previous_round_models(train_dir: Path, selection: SelectionSection, finetune: FinetuneSection | None = None) -> list[Path]:
    """The model file(s) that the round trained in ``train_dir`` kept, one per committee
    member (``member_<i>/``) or one: ``model.pt`` (the best epoch), or ``last_model.pt``
    when that round was a fine-tune and ``finetune.keep == "last"``."""
    run_dirs = ([train_dir / f"member_{i}" for i in range(selection.committee_size)]
                if selection.estimator == "committee" else [train_dir])
    paths = [run / _kept_file(run, finetune) for run in run_dirs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"cannot fine-tune: the previous round's model files {missing} are missing; "
                                "remove the finetune section to train from scratch")
    return paths


def _kept_file(run_dir: Path, finetune: FinetuneSection | None) -> str:
    """``last_model.pt`` for a fine-tuned run (its config.yaml names finetune_from) that
    keeps its last epoch, else ``model.pt``."""
    if finetune is None or finetune.keep == "best" or not (run_dir / "config.yaml").is_file():
        return "model.pt"
    was_finetuned = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("finetune_from") is not None
    return "last_model.pt" if was_finetuned else "model.pt"


def train_round(
    config: TrainConfig, selection: SelectionSection, bases: list[Path] | None = None,
    finetune: FinetuneSection | None = None,
) -> tuple[Potential, Potential]:
    """Train as ``selection.estimator`` asks; returns ``(scoring potential, feature model)``:
    a `Committee` (and its first member) or an `UncertaintyPotential` (and its model).

    ``bases`` (from `previous_round_models`): fine-tune from these files (committee member
    i from ``bases[i]``) instead of training from scratch; ``finetune.keep == "last"``
    (the default) keeps each fine-tune's last epoch (the committee file
    ``output_dir/committee.pt`` is then rewritten from the members' ``last_model.pt``,
    calibrated on the same validation split). Runs resume (``fit(..., resume=True)``): a
    round killed while training continues from its last checkpoint."""
    keep_last = bases is not None and (finetune is None or finetune.keep == "last")
    if selection.estimator == "committee":
        result = fit_committee(config, n_members=selection.committee_size, parallel=1, resume=True,
                               member_bases=list(bases) if bases is not None else None)
        committee = load_committee(result.committee_path)
        if keep_last:
            committee = _last_epoch_committee(config, [Path(m["output_dir"]) for m in result.members],
                                              result.committee_path)
        assert isinstance(committee, Committee)
        return committee, committee.members[0]
    if bases is not None:
        config = TrainConfig.model_validate({**config.model_dump(exclude={"model"}), "finetune_from": str(bases[0])})
    result = fit(config, resume=True)
    model = load_model(result.last_model_path if keep_last else result.best_model_path)
    graphs = GraphDataset.from_file(config.data.train_files()[0], model.cutoff, require=("energy",), dtype=model.dtype)
    if selection.estimator == "last_layer":
        potential = UncertaintyPotential(model, last_layer=fit_last_layer_uncertainty(model, graphs))
    else:
        potential = UncertaintyPotential(model, descriptors=fit_descriptor_distances(model, graphs))
    return potential, model


def _last_epoch_committee(config: TrainConfig, member_dirs: list[Path], path: Path) -> Committee:
    """The committee of the members' last epochs, calibrated on the members' shared
    validation split, written over ``path``."""
    committee = Committee([load_model(run / "last_model.pt") for run in member_dirs])
    valid = load_training_data(member_config(config, 0), committee.cutoff).valid
    if len(valid) > 0:
        committee = calibrate_committee(committee, valid.graphs)
        committee.calibrated_on = f"validation ({len(valid)} structures)"
    save_committee(committee, path, {"members": [str(run / "last_model.pt") for run in member_dirs],
                                     "calibration": dict(committee.scales), "kept": "last epoch"})
    return committee
