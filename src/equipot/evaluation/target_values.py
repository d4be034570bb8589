"""Reference and predicted values of further targets (outputs of model heads) in an evaluation.

A target is compared component by component: a dipole [n_structures, 3] gives 3 values
per structure, a polarizability [n_structures, 3, 3] gives 9; MAE and RMSE
(`metrics.target_metrics`) are in the head's unit (e·Å, Å³, ...), not scaled to meV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from ..data import AtomicGraph
from ..models import Potential
from .labels import graph_labels

__all__ = ["TargetValues", "collect_target_values", "labelled_targets"]


@dataclass
class TargetValues:
    """``reference`` and ``predicted`` [n, ...] (float64; n structures, or atoms if ``per_atom``), in ``unit``."""

    reference: np.ndarray
    predicted: np.ndarray
    unit: str = ""
    per_atom: bool = False

    def to_dict(self, include_arrays: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"unit": self.unit, "per_atom": self.per_atom, "shape": list(self.reference.shape)}
        if include_arrays:
            data["reference"], data["predicted"] = self.reference.tolist(), self.predicted.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetValues:
        shape = tuple(data["shape"])
        arrays = [np.asarray(data[key], dtype=np.float64).reshape(shape) for key in ("reference", "predicted")]
        return cls(*arrays, unit=data.get("unit", ""), per_atom=bool(data.get("per_atom", False)))


def labelled_targets(model: Potential, graphs: list[AtomicGraph]) -> dict[str, Any]:
    """The model's heads (name -> `OutputSpec`) that have labels in some of ``graphs``."""
    specs = model.output_specs()
    labels = graph_labels(graphs)
    return {name: spec for name, spec in specs.items() if name in labels}


def collect_target_values(
    columns: dict[str, tuple[list[np.ndarray], list[np.ndarray]]],
    specs: dict[str, Any],
    chunk: list[AtomicGraph],
    extra: dict[str, Tensor],
    batch_index: np.ndarray,
) -> None:
    """Append (reference, predicted) of each labelled target of the structures in ``chunk``."""
    for name, spec in specs.items():
        prediction = extra[name].detach().cpu().double().numpy()
        for index, graph in enumerate(chunk):
            label = graph.atom_targets.get(name) if spec.per_atom else graph.graph_targets.get(name)
            if label is None:
                continue
            predicted = prediction[batch_index == index] if spec.per_atom else prediction[index : index + 1]
            references, predictions = columns.setdefault(name, ([], []))
            references.append(label.double().cpu().numpy().reshape(predicted.shape))
            predictions.append(predicted)
