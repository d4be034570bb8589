"""Training: `fit` a potential from a `TrainConfig` (YAML), on Lightning.

    from equipot.train import fit
    result = fit("config.yaml")          # or fit(TrainConfig(...)), fit("runs/x", resume=True)
    print(result.best_model_path, result.valid_metrics["forces_mae"])  # meV/Å

See docs/training.md for the config reference, resuming, multi-GPU and multi-node runs.
"""

from .checkpoints import AtomicCheckpointIO, RunCheckpoints, read_checkpoint
from .committee import CommitteeResult, fit_committee, member_config
from .distillation import DistillationModule, TeacherHeadPotential, prepare_distillation, reference_offsets
from .data import (
    EpochSampler,
    GraphDataModule,
    ResumableLoader,
    ShardedBatchSampler,
    TrainingData,
    load_training_data,
)
from .ema import ExponentialMovingAverage
from .errors import (
    CheckpointError,
    FinetuneError,
    NonFiniteLossError,
    RunExistsError,
    RunInUseError,
    TrainingDataError,
)
from .history import TrainingHistory, plot_learning_curve, write_metrics_csv
from .initialization import RunSetup, prepare_run
from .losses import LossFunction, LossWeights, MissingTargetError, prediction_errors
from .metrics import ErrorSums
from .module import PotentialModule
from .run_files import RunLock, RunPaths
from .runner import TrainResult, as_train_config, evaluate_errors, fit
from .teacher_labels import TeacherLabelError, label_frames

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointError",
    "CommitteeResult",
    "DistillationModule",
    "EpochSampler",
    "ErrorSums",
    "ExponentialMovingAverage",
    "FinetuneError",
    "GraphDataModule",
    "LossFunction",
    "LossWeights",
    "MissingTargetError",
    "NonFiniteLossError",
    "PotentialModule",
    "ResumableLoader",
    "RunCheckpoints",
    "RunExistsError",
    "RunInUseError",
    "RunLock",
    "RunPaths",
    "RunSetup",
    "ShardedBatchSampler",
    "TeacherHeadPotential",
    "TeacherLabelError",
    "TrainResult",
    "TrainingData",
    "TrainingDataError",
    "TrainingHistory",
    "as_train_config",
    "evaluate_errors",
    "fit",
    "fit_committee",
    "label_frames",
    "load_training_data",
    "member_config",
    "plot_learning_curve",
    "prepare_distillation",
    "prepare_run",
    "prediction_errors",
    "read_checkpoint",
    "reference_offsets",
    "write_metrics_csv",
]
