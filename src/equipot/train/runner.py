"""`fit`: train a potential from a `TrainConfig` (or a YAML file), end to end.

>>> from equipot.train import fit                    # doctest: +SKIP
>>> result = fit("config.yaml")                      # doctest: +SKIP
>>> result.best_model_path, result.test_metrics["forces_mae"]   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.callbacks import Callback, RichProgressBar
from lightning.pytorch.strategies import DDPStrategy, Strategy
from torch.utils.data import DataLoader

from ..config.train import TrainConfig, load_train_config
from ..data import AtomicGraph, DatasetStatistics, GraphDataset, batch_graphs
from ..evaluation.labels import graph_labels, outputs_for_labels
from ..models import Potential
from ..models.io import save_model
from ..potential_files import load_potential
from ..progress import progress_enabled
from .checkpoints import AtomicCheckpointIO, RunCheckpoints, read_checkpoint
from .data import GraphDataModule
from .distillation import DistillationModule, prepare_distillation
from .errors import RunExistsError
from .finetune_baseline import FinetuneBaseline
from .history import TrainingHistory
from .initialization import RunSetup, prepare_run
from .losses import LossFunction, LossWeights, prediction_errors
from .metrics import ErrorSums
from .module import PotentialModule
from .run_files import RunLock, RunPaths, atomic_write

__all__ = ["TrainResult", "as_train_config", "evaluate_errors", "fit"]


@dataclass
class TrainResult:
    """What `fit` returns: where the files are and how good the model is.

    Metrics (keys as in `equipot.evaluation.metrics`: ``loss``, ``energy_per_atom_mae`` in
    meV/atom, ``forces_mae`` in meV/Å, ...) are those of the best model (EMA weights of
    the epoch with the lowest validation loss). ``epochs_trained`` counts whole epochs;
    ``best_epoch`` is fractional (3.45) when the best model is the one validated after the
    time budget stopped the run 45% into epoch 4. On processes other than the first of a
    distributed run, the metrics are empty and ``statistics`` is None.
    """

    output_dir: Path
    best_model_path: Path
    last_model_path: Path
    metrics_path: Path
    learning_curve_path: Path
    best_checkpoint_path: Path
    last_checkpoint_path: Path
    epochs_trained: int
    best_epoch: float
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float] | None
    statistics: DatasetStatistics | None

    @property
    def model_path(self) -> Path:
        """The model to use: ``best_model_path`` (``output_dir/model.pt``)."""
        return self.best_model_path


def as_train_config(config: TrainConfig | str | os.PathLike) -> TrainConfig:
    """A `TrainConfig` from itself, a YAML file, or a run folder (its ``config.yaml``)."""
    if isinstance(config, TrainConfig):
        return config
    path = Path(config)
    return load_train_config(RunPaths(path).config if path.is_dir() else path)


def fit(config: TrainConfig | str | os.PathLike, resume: bool = False) -> TrainResult:
    """Train the potential that ``config`` describes; write the run into ``output_dir``.

    ``config`` is a `TrainConfig`, a YAML file, or an existing run folder (resumes it with
    its stored config). With ``resume=True`` training continues from
    ``checkpoints/last.ckpt`` when it exists (and starts afresh otherwise); the result is
    the same as that of an uninterrupted run. Without it, a folder that already holds a
    run is an error (`RunExistsError`). A checkpoint is read as plain data only: one that
    holds other Python objects, or is damaged, is refused (`CheckpointError`). A folder
    another process is training into is refused too (`RunInUseError`, see `RunLock`).

    Writes ``config.yaml`` (resolved), ``checkpoints/{last,best}.ckpt``, ``model.pt`` (EMA
    weights of the best epoch), ``last_model.pt``, ``metrics.csv`` and ``learning_curve.png``.
    """
    if not isinstance(config, TrainConfig) and Path(config).is_dir():
        resume = True
    config = as_train_config(config)
    paths = RunPaths(Path(config.output_dir).expanduser())
    with _run_lock(paths):
        return _fit_locked(config, paths, resume)


def _run_lock(paths: RunPaths) -> AbstractContextManager[object]:
    """The run folder's lock, taken by the first process of a run only: the other processes
    of a distributed run (started by Lightning, torchrun or SLURM, which give them a nonzero
    rank in the environment) train into the same folder."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
    first = all(os.environ.get(name, "0") in ("", "0") for name in ranks)
    return RunLock(paths) if first else nullcontext()


def _fit_locked(config: TrainConfig, paths: RunPaths, resume: bool) -> TrainResult:
    """`fit`, in a run folder this process has locked."""
    if paths.last_checkpoint.exists() and not resume:
        raise RunExistsError(
            f"{paths.output_dir} already holds a run ({paths.last_checkpoint}); resume it "
            "(fit(config, resume=True) or `equipot train --resume`) or choose another output_dir"
        )
    checkpoint = paths.last_checkpoint if paths.last_checkpoint.is_file() else None
    if checkpoint is not None:
        read_checkpoint(checkpoint)  # refuse an unsafe or damaged one now, before the data are read
    _remove_partial_files(paths)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    setup = prepare_run(config)
    if config.distillation is not None:  # teacher head, aligned references, replay frames
        replay = prepare_distillation(setup)
        module: PotentialModule = DistillationModule(setup.model, setup.config, replay, setup.data.train.names, setup.run_info())  # type: ignore[arg-type]
    else:
        module = PotentialModule(setup.model, setup.config, setup.data.train.names, setup.run_info())
    max_time_s = 60 * config.max_time_minutes if config.max_time_minutes else None
    history = TrainingHistory(paths, config.max_epochs, max_time_s=max_time_s)
    unused = _has_unused_parameters(module, setup.data.train[0])
    callbacks: list[Callback] = [history, _ConfigWriter(paths, setup.config)]
    if config.finetune_from is not None:  # the base model is epoch 0, the best to beat
        batch_size, weights = config.resolved_valid_batch_size(), module.loss_weights(0)
        callbacks.append(FinetuneBaseline(paths, lambda model: evaluate_errors(
            model, setup.data.valid, weights, module.loss_fn, batch_size)))
    trainer = build_trainer(setup.config, paths, callbacks, unused)
    datamodule = GraphDataModule(setup.data, config.batch_size, config.resolved_valid_batch_size(), config.seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec", category=Warning)  # Lightning vs torch 2.13
        warnings.filterwarnings("ignore", message=r"Grad strides do not match bucket view strides")  # DDP, harmless
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)  # plain data only
    return _finish(trainer, module, setup, paths, history)


def _remove_partial_files(paths: RunPaths) -> None:
    """Delete temporary files that a killed run left behind (see `atomic_write`)."""
    for folder in (paths.output_dir, paths.checkpoint_dir):
        for partial in folder.glob(".*.tmp") if folder.is_dir() else ():
            partial.unlink(missing_ok=True)


def build_trainer(
    config: TrainConfig, paths: RunPaths, callbacks: list[Callback], find_unused_parameters: bool = True
) -> pl.Trainer:
    """The Lightning `Trainer` of a run (checkpoints, precision, devices, progress bar).

    ``find_unused_parameters`` is passed to DDP: needed when some weights get no gradient.
    """
    switch_epoch = config.loss.switch.epoch if config.loss.switch else None
    checkpoints = RunCheckpoints(paths, config.early_stopping_patience, switch_epoch, config.checkpoint_every_n_steps)
    show_bar = sys.stdout.isatty() and progress_enabled()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    return pl.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=_strategy(config, find_unused_parameters),
        precision="64-true" if config.dtype == "float64" else "32-true",
        max_epochs=config.max_epochs,
        gradient_clip_val=config.grad_clip,
        gradient_clip_algorithm="norm",
        callbacks=[*callbacks, checkpoints, *([RichProgressBar(leave=False)] if show_bar else [])],
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_checkpointing=True,
        enable_progress_bar=show_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        inference_mode=False,  # forces need autograd during validation
        use_distributed_sampler=False,  # GraphDataModule shards batches itself
        default_root_dir=str(paths.output_dir),
    )


def _strategy(config: TrainConfig, find_unused_parameters: bool) -> str | Strategy:
    """``ddp`` / ``ddp_spawn`` (and ``auto`` on several devices) as a configured `DDPStrategy`."""
    several = config.num_nodes > 1 or config.devices not in (1, "1", [0])
    if config.strategy == "ddp" or (config.strategy == "auto" and several):
        return DDPStrategy(find_unused_parameters=find_unused_parameters)
    if config.strategy == "ddp_spawn":
        return DDPStrategy(start_method="spawn", find_unused_parameters=find_unused_parameters)
    return config.strategy


def _has_unused_parameters(module: PotentialModule, graph: AtomicGraph) -> bool:
    """Whether some weight gets no gradient from the loss of one structure (DDP must then
    search for unused parameters every step)."""
    model = module.model
    output = model(graph, outputs={"energy", "forces"}, create_graph=True)  # "energy" alone skips autograd
    gradients = torch.autograd.grad(output.energy.sum(), list(model.parameters()), allow_unused=True)
    return any(gradient is None for gradient in gradients)


class _ConfigWriter(Callback):
    """Writes the resolved config to ``output_dir/config.yaml`` (first process only)."""

    def __init__(self, paths: RunPaths, config: TrainConfig):
        self.paths, self.config = paths, config

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            text = yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
            atomic_write(self.paths.config, lambda stream: stream.write(text.encode()))


def _finish(
    trainer: pl.Trainer, module: PotentialModule, setup: RunSetup, paths: RunPaths, history: TrainingHistory
) -> TrainResult:
    """Final evaluation of the best model and the last-epoch model file (first process)."""
    epochs = int(history.rows[-1]["epoch"]) if history.rows else 0
    checkpoints = trainer.checkpoint_callback
    best_epoch = float(getattr(checkpoints, "best_epoch", 0))
    best_epoch = int(best_epoch) if best_epoch.is_integer() else best_epoch  # fractional: inside a stopped epoch
    result = TrainResult(
        output_dir=paths.output_dir,
        best_model_path=paths.best_model,
        last_model_path=paths.last_model,
        metrics_path=paths.metrics,
        learning_curve_path=paths.learning_curve,
        best_checkpoint_path=paths.best_checkpoint,
        last_checkpoint_path=paths.last_checkpoint,
        epochs_trained=epochs,
        best_epoch=best_epoch,
        valid_metrics={},
        test_metrics=None,
        statistics=None,
    )
    if not trainer.is_global_zero:
        return result
    weights = module.loss_weights(max(epochs - 1, 0))
    info = {**setup.run_info(), "epochs_trained": epochs}
    save_model(module.averaged_model, paths.last_model, {**info, "best_epoch": best_epoch})
    best = load_potential(paths.best_model, device=module.device)
    batch_size = setup.config.resolved_valid_batch_size()
    result.valid_metrics = evaluate_errors(best, setup.data.valid, weights, module.loss_fn, batch_size)
    if setup.data.test is not None:
        result.test_metrics = evaluate_errors(best, setup.data.test, weights, module.loss_fn, batch_size)
    metrics = {"valid": result.valid_metrics, **({"test": result.test_metrics} if result.test_metrics else {})}
    save_model(best, paths.best_model, {**info, "best_epoch": best_epoch, "metrics": metrics})
    result.statistics = setup.statistics
    return result


def evaluate_errors(
    model: Potential,
    dataset: GraphDataset,
    weights: LossWeights | None = None,
    loss: LossFunction | None = None,
    batch_size: int = 16,
) -> dict[str, float]:
    """Loss and MAE/RMSE (meV units; targets of ``weights`` in their units) of ``model`` on
    ``dataset``, as in validation."""
    weights, loss = weights or LossWeights(), loss or LossFunction()
    device, dtype = model.device, model.dtype
    sums = ErrorSums(terms=weights.terms)
    loader: DataLoader[Any] = DataLoader(dataset, batch_size=batch_size, collate_fn=batch_graphs)
    for graph in loader:
        graph = graph.to(device=device, dtype=dtype)
        outputs = outputs_for_labels(graph_labels(graph), weights.targets)
        with torch.no_grad():
            output = model(graph, outputs=outputs, create_graph=False)
        sums.add(prediction_errors(output, graph), loss)
    return sums.metrics(weights)
