"""Training of one round: a committee, or one model with its own uncertainty estimators."""

from __future__ import annotations

from pathlib import Path

from ..config.learn import SelectionSection
from ..config.train import TrainConfig
from ..data import GraphDataset
from ..models import Potential
from ..models.io import load_model
from ..train import fit, fit_committee
from ..uq import Committee, UncertaintyPotential, fit_descriptor_distances, fit_last_layer_uncertainty, load_committee

__all__ = ["round_train_config", "train_round"]


def round_train_config(base: TrainConfig, train_file: Path, output_dir: Path) -> TrainConfig:
    """``base`` training on ``train_file`` into ``output_dir``."""
    data = base.model_dump()
    data["data"]["train_file"] = str(train_file)
    data["output_dir"] = str(output_dir)
    return TrainConfig.model_validate(data)


def train_round(config: TrainConfig, selection: SelectionSection) -> tuple[Potential, Potential]:
    """Train as ``selection.estimator`` asks; returns ``(scoring potential, feature model)``:
    a `Committee` (and its first member) or an `UncertaintyPotential` (and its model).

    Runs resume (``fit(..., resume=True)``): a round killed while training continues from
    its last checkpoint."""
    if selection.estimator == "committee":
        result = fit_committee(config, n_members=selection.committee_size, parallel=1, resume=True)
        committee = load_committee(result.committee_path)
        assert isinstance(committee, Committee)
        return committee, committee.members[0]
    result = fit(config, resume=True)
    model = load_model(result.best_model_path)
    graphs = GraphDataset.from_file(config.data.train_files()[0], model.cutoff, require=("energy",), dtype=model.dtype)
    if selection.estimator == "last_layer":
        potential = UncertaintyPotential(model, last_layer=fit_last_layer_uncertainty(model, graphs))
    else:
        potential = UncertaintyPotential(model, descriptors=fit_descriptor_distances(model, graphs))
    return potential, model
