"""`PotentialModule`: the Lightning module that trains a potential with parameters (an
`EquivariantPotential`, a `LongRangePotential`, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from ..config.train import TrainConfig
from ..data import AtomicGraph
from ..evaluation.labels import graph_labels, outputs_for_labels
from ..models import Potential
from .data import GraphBatch
from .ema import ExponentialMovingAverage
from .errors import NonFiniteLossError
from .losses import (
    HESSIAN_PROBES,
    LossFunction,
    LossWeights,
    forces_difference_products,
    hessian_errors,
    prediction_errors,
)
from .metrics import ErrorSums

__all__ = ["PotentialModule"]

#: seed of the fixed Gaussian probe mixtures of the validation Hessian metric (the same every epoch)
VALIDATION_MIXTURE_SEED = 0
_MAX_NAMED = 8  # structures named in a non-finite-loss message


class PotentialModule(pl.LightningModule):
    """Loss, optimizer, schedule and weight average around a potential.

    - training: the loss of `LossFunction` with the weights of the current epoch (see
      `loss_weights`), forces and stress by autograd with ``create_graph=True``;
    - validation: with the EMA weights (`averaged_model`), on every label present;
      the epoch's summary lands in `epoch_record` (keys ``epoch``, ``lr``, ``train_loss``,
      ``valid_loss``, ``valid_<metric>``, see `equipot.evaluation.metrics`); after a stop
      inside an epoch (`stopped_fraction`), ``epoch`` is fractional and the schedule does
      not step;
    - the learning-rate schedule steps once per epoch after validation (here, not in
      Lightning, so that a checkpoint written at the end of an epoch holds the stepped state).

    ``model`` is any `Potential` that is a torch module with parameters and a
    ``converted(dtype)`` copy (for the EMA): all its parameters are trained (those of a
    long-range model's charge head too). ``train_names`` names the training structures (for
    errors); ``run_info`` (JSON-like: resolved config, dataset statistics) is stored in
    every checkpoint under ``"equipot"``.
    """

    def __init__(
        self,
        model: Potential,
        config: TrainConfig,
        train_names: list[str] | None = None,
        run_info: dict[str, Any] | None = None,
    ):
        super().__init__()
        if not isinstance(model, torch.nn.Module) or not any(True for _ in model.parameters()):
            raise TypeError(f"PotentialModule trains a potential with parameters (a torch module); got {type(model).__name__}")
        self.model = model
        self.ema = ExponentialMovingAverage(model, config.ema.decay) if config.ema.enabled else None
        self.config = config
        self.loss_fn = LossFunction(config.loss.kind, config.loss.huber_delta)
        self.train_names = train_names or []
        self.run_info = run_info or {}
        self.epoch_record: dict[str, float] = {}
        #: fraction of the current epoch trained when the time budget stopped the run inside
        #: it (set by `TrainingHistory`); None while epochs run to their end
        self.stopped_fraction: float | None = None
        self._train_sums = torch.zeros(2, dtype=torch.float64)  # (sum of loss x structures, structures)
        self._terms = self.loss_weights(0).terms
        self._valid_sums = ErrorSums(terms=self._terms)

    # ------------------------------------------------------------------ helpers
    @property
    def averaged_model(self) -> Potential:
        """The model used for validation and saved: the EMA copy, or the trained model itself."""
        return self.ema.model if self.ema is not None else self.model

    def loss_weights(self, epoch: int) -> LossWeights:
        """Loss weights in (0-based) ``epoch``: after ``loss.switch.epoch`` epochs, the switched ones."""
        switch = self.config.loss.switch
        switched = switch is not None and epoch >= switch.epoch
        section = switch if switched else self.config.loss
        targets = {name: target.weight for name, target in self.config.loss.targets.items()}
        if switched and switch.target_weights:  # type: ignore[union-attr]
            targets.update(switch.target_weights)  # type: ignore[union-attr]
        return LossWeights(
            section.energy_weight,  # type: ignore[union-attr]
            section.forces_weight,  # type: ignore[union-attr]
            section.stress_weight,  # type: ignore[union-attr]
            targets,
            hessian=self.config.loss.hessian_weight,
        )

    @property
    def target_units(self) -> dict[str, str]:
        """Unit of each further target (from the model's heads), for metric columns."""
        specs = self.model.output_specs()
        return {name: specs[name].unit for name in self.config.loss.targets if name in specs}

    def _lr_switched(self, epoch: int) -> bool:
        switch = self.config.loss.switch
        return switch is not None and switch.lr is not None and epoch >= switch.epoch

    def _reduce_sum(self, tensor: Tensor) -> Tensor:
        return self.trainer.strategy.reduce(tensor.to(self.device), reduce_op="sum")

    # ----------------------------------------------------------------- training
    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(2, dtype=torch.float64)
        switch = self.config.loss.switch
        if switch is not None and switch.lr is not None and self.current_epoch == switch.epoch:
            for group in self.optimizers().optimizer.param_groups:  # type: ignore[union-attr]
                group["lr"] = switch.lr

    def training_step(self, batch: GraphBatch, batch_idx: int) -> Tensor:
        weights = self.loss_weights(self.current_epoch)
        if weights.hessian > 0 and self.global_step % self.config.loss.hessian_every != 0:
            weights = replace(weights, hessian=0.0)  # loss.hessian_every: this step skips the Hessian term
        errors = self._errors(self.model, batch.graph, weights.outputs(), weights.hessian > 0, training=True)
        loss = self.loss_fn(errors, weights)
        self._check_finite(loss, batch, batch_idx)
        n_graphs = batch.graph.n_graphs
        self._train_sums += torch.tensor([float(loss.detach()) * n_graphs, n_graphs], dtype=torch.float64)
        self.log("loss", loss.detach(), prog_bar=True, batch_size=n_graphs)
        return loss

    def _check_finite(self, loss: Tensor, batch: GraphBatch, batch_idx: int) -> None:
        local_bad = not bool(torch.isfinite(loss.detach()))
        bad = torch.tensor(float(local_bad), dtype=torch.float64)
        if self.trainer.world_size > 1:  # every process must stop, not only the one that saw it
            bad = self._reduce_sum(bad)
        if float(bad) == 0:
            return
        where = f"epoch {self.current_epoch + 1} (1-based), batch {batch_idx} (0-based)"
        if not local_bad:
            raise NonFiniteLossError(f"another process saw a non-finite training loss in {where}")
        names = [self.train_names[i] if i < len(self.train_names) else f"structure {i}" for i in batch.indices]
        shown = ", ".join(names[:_MAX_NAMED]) + (f", ... ({len(names)} in all)" if len(names) > _MAX_NAMED else "")
        raise NonFiniteLossError(
            f"the training loss is {float(loss.detach())} in {where}, which holds {shown}. "
            "Check these structures' labels, lower optimizer.lr, set grad_clip, or train in float64"
        )

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimizer step, then the EMA update (before any callback can checkpoint)."""
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.update(self.model)

    # --------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        self._valid_sums = ErrorSums(terms=self._terms)

    def validation_step(self, batch: GraphBatch, batch_idx: int) -> None:
        graph = batch.graph
        outputs = outputs_for_labels(graph_labels(graph), self.config.loss.targets)
        hessian = self.config.loss.hessian_weight > 0
        errors = self._errors(self.averaged_model, graph, outputs | ({"forces"} if hessian else set()), hessian, training=False)
        self._valid_sums.add(errors, self.loss_fn)

    def _errors(self, model: Potential, graph: AtomicGraph, outputs: set[str], hessian: bool, training: bool) -> dict[str, Tensor]:
        """`prediction_errors`, and with ``hessian`` the errors of the Hessian-vector
        products (`hessian_errors`; positions require grad so that the forces can be
        differentiated again; in training on ``loss.hessian_probes`` random columns or
        mixtures; in validation on every column, or with gaussian mixing on the same
        ``loss.hessian_probes`` mixtures every epoch, at the cost of a training step)."""
        if not (hessian and HESSIAN_PROBES in graph.atom_targets):
            output = model(graph, outputs=outputs, create_graph=training)
            return prediction_errors(output, graph)
        with torch.enable_grad():
            positions = graph.positions.detach().requires_grad_(True)
            graph = replace(graph, positions=positions)
            loss = self.config.loss
            exact = loss.hessian_method == "exact"
            # exact products differentiate the forces again; a difference of forces does not
            output = model(graph, outputs=outputs, create_graph=training or exact)
            gaussian = loss.hessian_probe_mix == "gaussian"
            products_of = None
            if not exact:
                products_of = self._forces_difference(model, graph, output.forces, training)
            hessian_error = hessian_errors(
                output.forces, positions, graph, create_graph=training,
                n_probes=loss.hessian_probes if training or gaussian else None,
                mix=loss.hessian_probe_mix,
                generator=None if training else torch.Generator().manual_seed(VALIDATION_MIXTURE_SEED),
                products_of=products_of,
            )
        errors = prediction_errors(output, graph)
        if hessian_error is not None:
            errors["hessian"] = hessian_error if training else hessian_error.detach()
        return errors

    def _forces_difference(
        self, model: Potential, graph: AtomicGraph, forces: Tensor, training: bool
    ) -> Callable[[Tensor], Tensor]:
        """``probes -> H v`` by `forces_difference_products` at ``graph``'s positions."""

        def forces_at(displaced: Tensor) -> Tensor:
            return model(replace(graph, positions=displaced), outputs={"forces"}, create_graph=training).forces

        step = self.config.loss.hessian_step
        return lambda probes: forces_difference_products(forces_at, graph.positions.detach(), forces, probes, step)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        epoch = self.current_epoch
        valid = self._valid_sums.reduced(self._reduce_sum).metrics(self.loss_weights(epoch))
        train_sum, train_count = self._reduce_sum(self._train_sums).tolist()
        optimizer = self.optimizers().optimizer  # type: ignore[union-attr]
        partial = self.stopped_fraction is not None  # the time budget stopped this epoch
        self.epoch_record = {
            "epoch": epoch + (self.stopped_fraction if partial else 1),  # type: ignore[operator]
            "lr": float(optimizer.param_groups[0]["lr"]),
            "train_loss": train_sum / train_count if train_count else float("nan"),
            **{f"valid_{name}": value for name, value in valid.items()},
        }
        self.log("valid_loss", valid["loss"], prog_bar=True, sync_dist=True)  # equal on all processes
        if not partial:  # the schedule steps once per whole epoch (as in a resumed run)
            self._step_scheduler(valid["loss"], epoch)

    def _step_scheduler(self, valid_loss: float, epoch: int) -> None:
        scheduler = self.lr_schedulers()
        if scheduler is None or self._lr_switched(epoch):
            return
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(valid_loss)
        else:
            scheduler.step()  # type: ignore[union-attr]

    # ---------------------------------------------------------------- optimizer
    def configure_optimizers(self) -> Any:
        settings, schedule = self.config.optimizer, self.config.scheduler
        parameters = list(self.model.parameters())
        if settings.name == "adamw":
            optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
        else:
            optimizer = torch.optim.Adam(parameters, lr=settings.lr, weight_decay=settings.weight_decay, amsgrad=True)
        if schedule.name == "none":
            return optimizer
        if schedule.name == "plateau":
            scheduler: Any = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=schedule.factor, patience=schedule.patience, min_lr=schedule.min_lr
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "valid_loss"}}
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.config.max_epochs, eta_min=schedule.min_lr
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """Lightning's own stepping is off: `on_validation_epoch_end` steps the schedule."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["equipot"] = self.run_info
        checkpoint["equipot_train_sums"] = self._train_sums.tolist()  # for mid-epoch checkpoints

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # a mid-epoch resume skips on_train_epoch_start: continue this epoch's running sums
        self._train_sums = torch.tensor(checkpoint.get("equipot_train_sums", [0.0, 0.0]), dtype=torch.float64)
