"""The training config: `TrainConfig`, read from YAML with `load_train_config`.

Every section is a `StrictModel`: an unknown key is an error that names the section and
suggests the closest valid key. `default_config_yaml` renders the defaults, with one
comment per key (meaning and units), from the field descriptions below; that text is what
``equipot train --print-default-config`` prints, and it loads back unchanged.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from ase.data import atomic_numbers
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from .model import ModelConfig
from .strict import StrictModel

__all__ = [
    "ConfigError",
    "DataSection",
    "DistillationSection",
    "EmaSection",
    "LabelKeysSection",
    "LossSection",
    "LossSwitch",
    "LossTarget",
    "ModelSection",
    "OptimizerSection",
    "SchedulerSection",
    "TrainConfig",
    "default_config_yaml",
    "load_train_config",
    "parse_train_config",
]


class ConfigError(ValueError):
    """A config file is missing, not valid YAML, or does not validate."""


class LabelKeysSection(StrictModel):
    """Where the labels are stored in the data files (keys of ASE's calculator results,
    ``atoms.info`` or ``atoms.arrays``)."""

    energy: str = Field("energy", description="key of the total energy (eV)")
    forces: str = Field("forces", description="key of the forces (eV/Å)")
    stress: str = Field("stress", description="key of the stress (eV/Å³, ASE sign, Voigt or 3x3)")
    hessian_probes: str = Field(
        "hessian_probes", description="per-atom key of the Hessian probe vectors v ([n_atoms, 3K], see docs/training.md)"
    )
    hessian_products: str = Field(
        "hessian_products", description="per-atom key of the Hessian-vector products H v (eV/Å², [n_atoms, 3K])"
    )


class DataSection(StrictModel):
    """Data files and how they are split into training, validation and test sets."""

    train_file: str | list[str] = Field(
        description="extxyz (.xyz, .extxyz, optionally .gz) or ASE .db file of training "
        "structures, or a list of such files (read in order and joined); 'shipped:ethanol' "
        "names a dataset shipped with equipot",
        examples=["train.xyz", ["md_300K.xyz", "strained.xyz"]],
    )

    @field_validator("train_file")
    @classmethod
    def _at_least_one_file(cls, files: str | list[str]) -> str | list[str]:
        if isinstance(files, list) and not files:
            raise ValueError("train_file lists no files; give at least one")
        return files

    def train_files(self) -> list[str]:
        """``train_file`` as a list."""
        return [self.train_file] if isinstance(self.train_file, str) else list(self.train_file)

    index: str = Field(":", description="frames of each train_file to read, as in ase.io.read (e.g. ':1000')")
    valid_file: str | None = Field(None, description="validation file; null: split valid_fraction off train_file")
    test_file: str | None = Field(
        None, description="test file; null: split test_fraction/n_test off train_file, or no test set"
    )
    valid_fraction: float = Field(
        0.1, gt=0, lt=1, description="fraction of train_file held out for validation (without valid_file)"
    )
    n_valid: int | None = Field(None, ge=1, description="number of validation structures; overrides valid_fraction")
    test_fraction: float | None = Field(
        None, gt=0, lt=1, description="fraction of train_file held out for testing (without test_file)"
    )
    n_test: int | None = Field(None, ge=1, description="number of test structures held out; overrides test_fraction")
    split_seed: int | None = Field(None, description="seed of the random valid/test split; null: the top-level seed")
    bootstrap_seed: int | None = Field(
        None,
        description="train on a bootstrap resample of the training split (as many structures, drawn with "
        "replacement with this seed; committee members get one each with --committee N --bootstrap); null: "
        "the training split as is",
    )
    keys: LabelKeysSection = Field(default_factory=LabelKeysSection, description="label keys in the files")

    @model_validator(mode="after")
    def _consistent_splits(self) -> DataSection:
        if self.test_fraction is not None and self.n_test is not None:
            raise ValueError("give at most one of data.test_fraction and data.n_test")
        if self.test_file is not None and (self.test_fraction is not None or self.n_test is not None):
            raise ValueError("data.test_file is set: remove data.test_fraction / data.n_test")
        if self.valid_file is not None and self.n_valid is not None:
            raise ValueError("data.valid_file is set: remove data.n_valid")
        return self


class ModelSection(ModelConfig):
    """Architecture (see `ModelConfig`); ``species`` may be left out: it is then inferred
    from the elements of the data."""

    species: list[str] | None = Field(  # type: ignore[assignment]
        None, description="chemical symbols the model knows, e.g. [H, C, O]; null: the elements of the data"
    )

    @field_validator("species")
    @classmethod
    def _known_symbols(cls, species: list[str] | None) -> list[str] | None:  # type: ignore[override]
        return None if species is None else ModelConfig._known_symbols(species)

    def with_species(self, species: list[str]) -> ModelConfig:
        """The `ModelConfig` of this section with ``species`` filled in."""
        return ModelConfig.model_validate({**self.model_dump(), "species": species})


class LossTarget(StrictModel):
    """A further training target: the output of the model head of the same name (see
    ``model.heads``), compared with the label stored under ``key`` in the data files."""

    weight: float = Field(1.0, ge=0, description="weight of the term ((unit of the head)^2 per component for mse)")
    key: str | None = Field(None, description="label key in the data files; null: the target's name")


class LossSwitch(StrictModel):
    """New loss weights (and optionally a constant learning rate) late in training, as in
    MACE's "swa" stage: typically the energy weight goes up by 10-1000x."""

    epoch: int = Field(ge=0, description="switch after this many epochs", examples=[150])
    energy_weight: float = Field(1000.0, ge=0, description="energy weight after the switch")
    forces_weight: float = Field(10.0, ge=0, description="forces weight after the switch")
    stress_weight: float = Field(0.0, ge=0, description="stress weight after the switch")
    target_weights: dict[str, float] | None = Field(
        None, description="weights of loss.targets after the switch, by name; null: unchanged"
    )
    lr: float | None = Field(
        None,
        gt=0,
        description="constant learning rate after the switch (stops the scheduler); null: keep the schedule",
        examples=[0.001],
    )


class LossSection(StrictModel):
    """Weighted sum of energy-per-atom, force and stress errors."""

    kind: Literal["mse", "huber"] = Field("mse", description="mse or huber (per component)")
    huber_delta: float = Field(
        0.01, gt=0, description="huber: where the loss turns from quadratic to linear (in the unit of each term)"
    )
    energy_weight: float = Field(1.0, ge=0, description="weight of the energy-per-atom term ((eV/atom)^2 for mse)")
    forces_weight: float = Field(
        10.0, ge=0, description="weight of the force term ((eV/Å)^2 per component for mse); 0 trains without forces"
    )
    stress_weight: float = Field(
        0.0, ge=0, description="weight of the stress term ((eV/Å³)^2 per component for mse); needs stress labels"
    )
    hessian_weight: float = Field(
        0.0,
        ge=0,
        description="weight of the Hessian-vector-product term ((eV/Å²)^2 per component for mse); needs "
        "Hessian labels in some structures (data.keys.hessian_probes/hessian_products); unchanged by loss.switch",
    )
    hessian_probes: int | None = Field(
        None,
        ge=1,
        description="Hessian probe columns used per batch, drawn at random from those stored (each costs one "
        "extra backward pass); null: all (full Hessians if the file stores all 3N unit vectors)",
    )
    hessian_probe_mix: Literal["columns", "gaussian"] = Field(
        "columns",
        description="columns: each product is one stored column (H v_k); gaussian: each of the hessian_probes "
        "products is a random Gaussian combination of all stored columns of a structure (H sum_k g_k v_k = "
        "sum_k g_k (H v)_k), so one backward pass carries information on every column; the validation metric "
        "then uses hessian_probes fixed mixtures (the same every epoch) instead of every column",
    )
    hessian_every: int = Field(
        1, ge=1, description="add the Hessian term on every n-th training step only (the others skip its cost)"
    )
    hessian_method: Literal["exact", "forces_difference"] = Field(
        "exact",
        description="exact: H v by a second backward pass through the forces (about 3x the work of a step "
        "without the term); forces_difference: H v = (F(r) - F(r + h v)) / h from one more force evaluation "
        "at r + h v (h = hessian_step), about 2x, with an error of order h",
    )
    hessian_step: float = Field(
        1e-3, gt=0, le=0.05, description="displacement h (Å per unit of v) of hessian_method: forces_difference"
    )
    targets: dict[str, LossTarget] = Field(
        default_factory=dict,
        description="further targets by head name (multi-task), e.g. {dipole: {weight: 1.0, key: dipole}}",
    )
    switch: LossSwitch | None = Field(None, description="switch of the weights late in training; null: never")

    @model_validator(mode="after")
    def _some_weight(self) -> LossSection:
        if self.energy_weight == self.forces_weight == self.stress_weight == self.hessian_weight == 0 and not any(
            target.weight > 0 for target in self.targets.values()
        ):
            raise ValueError(
                "all loss weights are 0: set energy_weight, forces_weight, stress_weight, hessian_weight "
                "or a target weight > 0"
            )
        if self.hessian_probe_mix == "gaussian" and self.hessian_probes is None:
            raise ValueError(
                "loss.hessian_probe_mix: gaussian needs loss.hessian_probes, the number of random combinations "
                "per batch (e.g. 1)"
            )
        unknown = sorted(set(self.switch.target_weights or {}) - set(self.targets)) if self.switch else []
        if unknown:
            raise ValueError(f"loss.switch.target_weights names {unknown}, which are not in loss.targets")
        return self

    def target_keys(self) -> dict[str, str]:
        """Label key of each target (its name unless ``key`` is given)."""
        return {name: target.key or name for name, target in self.targets.items()}


class OptimizerSection(StrictModel):
    """Optimizer: AdamW, or Adam with the AMSGrad variant."""

    name: Literal["adamw", "amsgrad"] = Field("amsgrad", description="adamw, or amsgrad (Adam with amsgrad=True)")
    lr: float = Field(0.005, gt=0, description="initial learning rate")
    weight_decay: float = Field(0.0, ge=0, description="weight decay (decoupled for adamw, L2 for amsgrad)")


class SchedulerSection(StrictModel):
    """Learning-rate schedule, stepped once per epoch."""

    name: Literal["plateau", "cosine", "none"] = Field(
        "plateau", description="plateau (on the validation loss), cosine (to min_lr at max_epochs) or none"
    )
    factor: float = Field(0.8, gt=0, lt=1, description="plateau: multiply the learning rate by this")
    patience: int = Field(20, ge=0, description="plateau: epochs without improvement before reducing")
    min_lr: float = Field(1.0e-6, ge=0, description="lowest learning rate")


class EmaSection(StrictModel):
    """Exponential moving average of the weights: used for validation and the saved model."""

    enabled: bool = Field(True, description="keep an exponential moving average of the weights")
    decay: float = Field(
        0.99, gt=0, lt=1, description="decay per optimizer step (warmed up as min(decay, (1+n)/(10+n)))"
    )


class DistillationSection(StrictModel):
    """Multi-fidelity fine-tuning (docs/distillation.md): the model of ``finetune_from`` was
    pretrained on many cheap (teacher) labels; it is fine-tuned on the few expensive labels
    of ``data`` with the composite loss ``loss(expensive batch) + replay_weight x
    loss(teacher batch)``, each step replaying a batch of the teacher's frames so that the
    model does not forget what the expensive set does not cover."""

    replay_file: str | list[str] = Field(
        description="teacher-labelled structures (extxyz/.db, or a list; labels under data.keys), e.g. "
        "written by equipot.train.label_frames",
        examples=["teacher.xyz"],
    )
    replay_index: str = Field(":", description="frames of each replay_file to read, as in ase.io.read")
    replay_weight: float = Field(
        1.0, ge=0, description="weight of the teacher batch's loss relative to the expensive batch's; 0: no replay"
    )
    replay_batch_size: int | None = Field(
        None, ge=1, description="teacher structures replayed per optimizer step; null: batch_size"
    )
    teacher_head: str | None = Field(
        None,
        description="name of an energy head for the teacher's level of theory on the shared encoder "
        "(multi-head): teacher energy = main energy + this head's per-atom correction; null: one head, the "
        "teacher frames train the main energy",
        examples=["gfn1"],
    )
    align_reference: bool = Field(
        True,
        description="shift the energy reference (E0 per element, least squares) of the pretrained model to the "
        "expensive labels, and the teacher labels by the same amount, before the first step",
    )
    energy_weight: float | None = Field(None, ge=0, description="replay energy weight; null: loss.energy_weight")
    forces_weight: float | None = Field(None, ge=0, description="replay force weight; null: loss.forces_weight")
    stress_weight: float | None = Field(None, ge=0, description="replay stress weight; null: loss.stress_weight")

    def replay_files(self) -> list[str]:
        """``replay_file`` as a list."""
        return [self.replay_file] if isinstance(self.replay_file, str) else list(self.replay_file)

    @field_validator("teacher_head")
    @classmethod
    def _head_name(cls, name: str | None) -> str | None:
        from .heads import RESERVED_OUTPUT_NAMES

        if name is not None and (not name.isidentifier() or name in RESERVED_OUTPUT_NAMES):
            raise ValueError(f"teacher_head {name!r} must be an identifier that is not an energy output, e.g. 'gfn1'")
        return name


class TrainConfig(StrictModel):
    """Everything `equipot.train.fit` needs. Paths are relative to the working directory."""

    data: DataSection = Field(description="data files, label keys and splits")
    model: ModelSection = Field(default_factory=ModelSection, description="model architecture")
    finetune_from: str | None = Field(
        None, description="model file (.pt) to start from; its architecture and normalization replace the model section"
    )
    distillation: DistillationSection | None = Field(
        None, description="fine-tune with replay of teacher-labelled frames (needs finetune_from); null: none"
    )
    atomic_energies: dict[str, float] | None = Field(
        None,
        description="isolated-atom reference energy per element (eV), e.g. from isolated-atom reference "
        "calculations; unlisted elements are fitted by least squares (needs compositions that separate them)",
        examples=[{"H": -10.7, "C": -48.8, "O": -102.5}],
    )
    loss: LossSection = Field(default_factory=LossSection, description="loss function")
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection, description="optimizer")
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection, description="learning-rate schedule")
    ema: EmaSection = Field(default_factory=EmaSection, description="moving average of the weights")
    max_epochs: int = Field(100, ge=1, description="number of passes over the training set")
    max_time_minutes: float | None = Field(
        None,
        gt=0,
        description="stop when this many minutes of training are spent, inside an epoch if need be (resumes count); null: none",
    )
    batch_size: int = Field(8, ge=1, description="structures per optimizer step (global: split over all processes)")
    valid_batch_size: int | None = Field(None, ge=1, description="structures per validation batch; null: batch_size")
    grad_clip: float | None = Field(10.0, gt=0, description="clip the gradient norm to this; null: no clipping")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop after this many epochs without a better validation loss; null: never"
    )
    checkpoint_every_n_steps: int | None = Field(
        None,
        ge=1,
        description="also write checkpoints/last.ckpt every N optimizer steps (long epochs); null: each epoch only",
    )
    seed: int = Field(0, description="seed of the weights, the data split and the shuffling")
    output_dir: str = Field("runs/train", description="folder for checkpoints, model.pt, metrics.csv and plots")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point precision of model and data")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for torch (per process); null: torch's default (all cores)"
    )
    accelerator: str = Field("auto", description="Lightning accelerator: auto, cpu, gpu, ...")
    devices: int | str | list[int] = Field(1, description="devices per node (Lightning: 1, 4, 'auto', [0, 2])")
    num_nodes: int = Field(1, ge=1, description="number of nodes (machines)")
    strategy: str = Field("auto", description="Lightning strategy: auto, ddp, ddp_spawn; ddp for several GPUs or nodes")

    @field_validator("atomic_energies")
    @classmethod
    def _known_elements(cls, energies: dict[str, float] | None) -> dict[str, float] | None:
        unknown = sorted(s for s in energies or {} if s not in atomic_numbers or s == "X")
        if unknown:
            raise ValueError(f"unknown chemical symbols {unknown} in atomic_energies")
        not_finite = sorted(s for s, e in (energies or {}).items() if not math.isfinite(e))
        if not_finite:
            raise ValueError(f"atomic_energies of {not_finite} are not finite numbers; give energies in eV")
        return energies

    @field_validator("distillation")
    @classmethod
    def _distillation_has_base(cls, section: DistillationSection | None, info: ValidationInfo) -> DistillationSection | None:
        if section is not None and info.data.get("finetune_from") is None:
            raise ValueError(
                "distillation fine-tunes a model pretrained on the teacher's labels: set finetune_from to "
                "that model file (train it first on the replay_file frames)"
            )
        return section

    def resolved_valid_batch_size(self) -> int:
        """Structures per validation batch."""
        return self.valid_batch_size or self.batch_size


# ---------------------------------------------------------------------------- loading
def load_train_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML training config; raise `ConfigError` with a clear message."""
    path = Path(path)
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"config file {path} {where}; write a starting point with "
            "`equipot train --print-default-config > config.yaml`"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from error
    if data is None:
        raise ConfigError(f"{path} is empty; start from `equipot train --print-default-config`")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys (data:, model:, ...), got {type(data).__name__}"
        )
    return parse_train_config(data, source=str(path))


def parse_train_config(data: dict[str, Any], source: str = "config") -> TrainConfig:
    """Validate a config dict; raise `ConfigError` listing every problem with its location."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        lines = [_describe(item) for item in error.errors()]
        raise ConfigError(f"{source}: invalid config:\n  - " + "\n  - ".join(lines)) from None


def _describe(item: Any) -> str:
    """One line per pydantic error: where, what, and what was given."""
    location = ".".join(str(part) for part in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    if message.startswith("unknown key"):
        section = f"section '{location}'" if location else "the top level"
        message = re.sub(r" in [A-Z]\w*", f" in {section}", message, count=1)
        return _looser_suggestion(message)
    if item["type"] == "missing":
        return f"{location}: required key is missing"
    return f"{location or 'top level'}: {message} (got {item['input']!r})"


#: names other codes use for our keys
_ALIASES = {
    "learning_rate": "lr",
    "epochs": "max_epochs",
    "n_epochs": "max_epochs",
    "num_epochs": "max_epochs",
    "lr_scheduler": "scheduler",
    "optim": "optimizer",
    "train_path": "train_file",
    "valid_path": "valid_file",
    "test_path": "test_file",
    "energy_key": "energy",
    "replay": "replay_file",
    "teacher_file": "replay_file",
    "head": "teacher_head",
    "forces_key": "forces",
    "stress_key": "stress",
}


def _looser_suggestion(message: str) -> str:
    """Add a 'did you mean' for short keys (``lr_rate`` -> ``lr``) that difflib's default misses."""
    match = re.match(r"unknown key '([^']*)'.*\(valid keys: ([^)]*)\)", message)
    if "did you mean" in message or match is None:
        return message
    key, valid = match.group(1), match.group(2).split(", ")
    close = [v for v in [_ALIASES.get(key)] if v in valid]
    close = close or [v for v in valid if key.startswith(v) or v.startswith(key)]
    close = close or difflib.get_close_matches(key, valid, n=1, cutoff=0.4)
    if not close:
        return message
    head, tail = message.split(" (valid keys:", 1)
    return f"{head}; did you mean {close[0]!r}? (valid keys:{tail}"


# ---------------------------------------------------------------------- default YAML
def default_config_yaml() -> str:
    """A commented YAML config with every key at its default (units in the comments).

    Required keys get an example value; optional sections are shown commented out.
    """
    lines = [
        "# equipot training config. Run with `equipot train config.yaml`, or from Python:",
        "#   from equipot.train import fit; result = fit('config.yaml')",
        "# Units: eV, Å, eV/Å, eV/Å³. Unknown keys are errors.",
        "",
    ]
    lines += _render_model(TrainConfig, indent="")
    return "\n".join(lines) + "\n"


def _render_model(model: type[StrictModel], indent: str) -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        section = _section_type(field.annotation)
        if section is not None:
            lines.append(f"{indent}# {field.description}")
            if field.is_required() or field.default_factory is not None:
                lines.append(f"{indent}{name}:")
                lines += _render_model(section, indent + "  ")
            else:  # optional section, null by default: an example, commented out
                lines.append(f"{indent}# for example:")
                lines.append(f"{indent}# {name}:")
                lines += [f"{indent}# {line}" for line in _render_model(section, "  ")]
                lines.append(f"{indent}{name}: null")
            continue
        value = (
            field.examples[0]
            if field.is_required() and field.examples
            else field.get_default(call_default_factory=True)
        )
        example = f"; e.g. {_inline(field.examples[0])}" if value is None and field.examples else ""
        lines.append(f"{indent}# {field.description}{example}")
        lines.append(f"{indent}{name}: {_inline(value)}")
    return lines


def _section_type(annotation: Any) -> type[StrictModel] | None:
    """The `StrictModel` class in ``annotation`` (``X`` or ``X | None``), if any."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, StrictModel):
            return candidate
    return None


def _inline(value: Any) -> str:
    """``value`` as one line of YAML flow style."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()
