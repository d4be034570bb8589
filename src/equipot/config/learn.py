"""The active-learning config: `LearnConfig`, read from YAML with `load_learn_config`.

Every section is a `StrictModel`: an unknown key is an error that suggests the closest
valid key. See docs/active_learning.md for the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from .strict import StrictModel
from .train import ConfigError, TrainConfig, _describe, load_train_config, parse_train_config

__all__ = [
    "ConvergenceSection",
    "ExplorationSection",
    "FinetuneSection",
    "LabellerSection",
    "LearnConfig",
    "SelectionSection",
    "load_learn_config",
    "parse_learn_config",
]

class LabellerSection(StrictModel):
    """The reference method: a name of the labeller registry and its settings."""

    name: str = Field("emt", description="labeller: emt (ASE's EMT) or gfn2 (tblite's GFN2-xTB); checked against equipot.learn.LABELLERS")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments of the calculator, e.g. {accuracy: 1.0, electronic_temperature: 300.0} for gfn2",
    )


class ExplorationSection(StrictModel):
    """Short Langevin MD runs of the current model from each starting structure at each temperature."""

    start_file: str = Field(description="structures the MD runs start from (any ASE format)", examples=["start.xyz"])
    temperatures_K: list[float] = Field([300.0], min_length=1, description="MD temperatures (K), one run per start and temperature")
    steps: int = Field(100, ge=1, description="MD steps per run")
    sample_every: int = Field(10, ge=1, description="keep a frame every this many steps as a candidate")
    timestep_fs: float = Field(2.0, gt=0, description="MD time step (fs)")
    friction_per_fs: float = Field(0.02, gt=0, description="Langevin friction (1/fs)")

    @field_validator("temperatures_K")
    @classmethod
    def _positive(cls, temperatures: list[float]) -> list[float]:
        if any(t <= 0 for t in temperatures):
            raise ValueError(f"temperatures must be positive (K), got {temperatures}")
        return temperatures


class SelectionSection(StrictModel):
    """Which explored frames get labelled."""

    estimator: Literal["committee", "last_layer", "descriptor"] = Field(
        "committee",
        description="committee (spread of 2+ models), last_layer (one model's last-layer variance) or descriptor "
        "(distance of the atoms to the training set)",
    )
    committee_size: int = Field(2, ge=2, description="committee: number of members trained each round")
    threshold: float | None = Field(
        None,
        gt=0,
        description="a frame is flagged when its score exceeds this: eV/Å for committee and last_layer (largest "
        "forces_std over its atoms), feature units for descriptor (null: the model's own 99th-percentile threshold)",
    )
    budget_per_round: int = Field(5, ge=1, description="structures labelled per round at most")
    candidates_per_label: int = Field(
        4, ge=1, description="farthest-point sampling picks the budget among this many times as many most-uncertain frames"
    )

    @model_validator(mode="after")
    def _threshold_needed(self) -> SelectionSection:
        if self.threshold is None and self.estimator != "descriptor":
            raise ValueError(
                f"selection.threshold is required for estimator {self.estimator!r}: the force spread (eV/Å) above "
                "which a frame is flagged, e.g. 0.1"
            )
        return self


class ConvergenceSection(StrictModel):
    """When to stop: converged, or the budget is spent."""

    flagged_percent: float = Field(5.0, ge=0, le=100, description="converged when fewer than this % of explored frames are flagged ...")
    rounds_in_a_row: int = Field(2, ge=1, description="... for this many rounds in a row")
    max_rounds: int = Field(10, ge=1, description="stop after this many rounds (each trains a model)")
    max_labels: int | None = Field(None, ge=1, description="stop once this many new labels are spent; null: no limit")


class FinetuneSection(StrictModel):
    """Continue from the previous round's model(s) instead of training from scratch each round."""

    max_epochs: int = Field(20, ge=1, description="epochs of each fine-tune (round 1 trains from scratch for train.max_epochs)")
    lr: float | None = Field(None, gt=0, description="learning rate of the fine-tunes; null: the train config's optimizer.lr")
    min_steps: int | None = Field(
        150,
        ge=1,
        description="at least this many optimizer steps per fine-tune: with few labels an epoch is a few steps, so "
        "the epochs are raised to ceil(min_steps / batches per epoch); null: max_epochs always",
    )
    schedule: Literal["cosine", "train"] = Field(
        "cosine",
        description="cosine: the learning rate falls to train.scheduler.min_lr over each fine-tune, so every round "
        "ends at a settled model, not at a noisy constant rate; train: the train config's scheduler",
    )
    keep: Literal["last", "best"] = Field(
        "last",
        description="last: each fine-tune keeps its last epoch; best: the epoch of lowest validation loss, the base "
        "model included, which on a small validation split of labels the base model trained on often keeps the base "
        "and drops the round's new labels",
    )


class LearnConfig(StrictModel):
    """Everything `equipot.learn.run_active_learning` needs. Paths are relative to the working directory."""

    initial_file: str = Field(description="labelled structures to start from (energy and forces)", examples=["initial.xyz"])
    test_file: str | None = Field(None, description="fixed labelled test set; its force error is reported each round")
    database: str = Field("learn.db", description="ASE database of every structure and its provenance (SQLite file or URL)")
    output_dir: str = Field("runs/learn", description="folder of the round models, learn_report.csv and learn_state.json")
    labeller: LabellerSection = Field(default_factory=LabellerSection, description="reference method")
    exploration: ExplorationSection = Field(description="MD exploration")
    selection: SelectionSection = Field(default_factory=SelectionSection, description="uncertainty and selection")
    convergence: ConvergenceSection = Field(default_factory=ConvergenceSection, description="stopping rule")
    train: str | dict[str, Any] = Field(
        description="training config: a path to a train YAML or the config inline (data.train_file is set by the loop)",
        examples=["train.yaml"],
    )
    finetune: FinetuneSection | None = Field(
        None,
        description="null: every round trains from scratch; a section: rounds after the first fine-tune the previous "
        "round's model (each committee member its own) for finetune.max_epochs epochs",
    )
    seed: int = Field(0, description="seed of the MD velocities and noise")

    def train_config(self, base_dir: Path | None = None) -> TrainConfig:
        """The training config (a placeholder train_file; the loop sets the real one)."""
        if isinstance(self.train, str):
            path = Path(self.train)
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            return load_train_config(path)
        data = dict(self.train)
        data.setdefault("data", {})
        data["data"] = {"train_file": "labelled.xyz", **data["data"]}
        return parse_train_config(data, source="learn config, section 'train'")


def load_learn_config(path: str | Path) -> LearnConfig:
    """Read and validate a YAML active-learning config; `ConfigError` with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"learn config {path} does not exist; see docs/active_learning.md for an example")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML syntax error: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (initial_file:, exploration:, ...)")
    return parse_learn_config(data, source=str(path))


def parse_learn_config(data: dict[str, Any], source: str = "learn config") -> LearnConfig:
    """Validate a config dict; `ConfigError` listing every problem with its location."""
    try:
        return LearnConfig.model_validate(data)
    except ValidationError as error:
        lines = [_describe(item) for item in error.errors()]
        raise ConfigError(f"{source}: invalid config:\n  - " + "\n  - ".join(lines)) from None
