"""Evaluation of a potential on labelled structures: predictions, references and metrics.

`evaluate_model` runs a model over a `GraphDataset` in eval mode and returns an
`EvaluationResult` holding, for every labelled quantity, the reference and predicted
arrays and the error metrics (MAE and RMSE; names and units in `equipot.evaluation.metrics`,
plus ``forces_by_element[symbol]``, the force errors over the atoms of one element).

Each quantity is compared only on the structures that carry its label, so a data set that
mixes periodic structures with stress and molecules without it is fine.

Example::

    >>> result = evaluate_file("model.pt", "test.xyz")            # doctest: +SKIP
    >>> result.metrics["forces_mae"]                               # doctest: +SKIP
    23.4
    >>> rich.print(format_metrics_table(result.metrics))           # doctest: +SKIP  (tables.py)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import nn

from ..data import GraphDataset, LabelKeys, batch_graphs
from ..models import Potential
from ..potential_files import load_potential
from ..data.shipped import resolve_data_path
from ..o3.voigt import voigt_from_matrix
from .labels import graph_labels, outputs_for_labels
from .metrics import array_metrics
from .target_values import TargetValues, collect_target_values, labelled_targets

__all__ = ["EvaluationResult", "compute_metrics", "evaluate_file", "evaluate_model", "load_evaluation_inputs"]

_ARRAYS = (
    "energy_per_atom_reference", "energy_per_atom_predicted", "energy_n_atoms",
    "forces_reference", "forces_predicted", "forces_atomic_numbers",
    "stress_reference", "stress_predicted",
)


@dataclass
class EvaluationResult:
    """Reference and predicted values of a model on a data set, and their error metrics.

    Arrays (float64 unless stated; empty where the data set lacks the label):

    - ``energy_per_atom_reference``, ``energy_per_atom_predicted`` [n_energy], eV/atom
    - ``energy_n_atoms`` [n_energy], int: atom count of each of those structures
    - ``forces_reference``, ``forces_predicted`` [n_force_atoms, 3], eV/Å
    - ``forces_atomic_numbers`` [n_force_atoms], int: Z of each atom (per-element metrics)
    - ``stress_reference``, ``stress_predicted`` [n_stress, 6], eV/Å³, Voigt order
      (xx yy zz yz xz xy), ASE's sign

    ``targets`` holds the outputs of model heads that have labels (name -> `TargetValues`:
    reference and predicted [n, ...] in the head's unit, e.g. a dipole [n, 3] in e·Å).

    ``metrics`` is the JSON-safe dict of `compute_metrics` (errors in meV units, see
    `metrics.METRIC_UNITS`; targets in their own units); ``names`` are the structure names of the data set
    (``"structure 12 of test.xyz"``) and ``source`` its file name.
    """

    energy_per_atom_reference: np.ndarray
    energy_per_atom_predicted: np.ndarray
    energy_n_atoms: np.ndarray
    forces_reference: np.ndarray
    forces_predicted: np.ndarray
    forces_atomic_numbers: np.ndarray
    stress_reference: np.ndarray
    stress_predicted: np.ndarray
    targets: dict[str, TargetValues] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    source: str | None = None

    @property
    def has_energy(self) -> bool:
        return self.energy_per_atom_reference.size > 0

    @property
    def has_forces(self) -> bool:
        return self.forces_reference.size > 0

    @property
    def has_stress(self) -> bool:
        return self.stress_reference.size > 0

    def to_dict(self, include_arrays: bool = True) -> dict[str, Any]:
        """A JSON-safe dict: ``metrics``, ``names``, ``source`` and (optionally) the arrays as lists."""
        data: dict[str, Any] = {"metrics": self.metrics, "names": list(self.names), "source": self.source}
        if include_arrays:
            data["arrays"] = {name: getattr(self, name).tolist() for name in _ARRAYS}
        if self.targets:
            data["targets"] = {name: values.to_dict(include_arrays) for name, values in self.targets.items()}
        return data

    def to_json(self, path: str | os.PathLike | None = None, include_arrays: bool = True, indent: int = 2) -> str:
        """`to_dict` as a JSON string; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(include_arrays), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Inverse of `to_dict` (needs the arrays)."""
        if "arrays" not in data:
            raise ValueError("EvaluationResult.from_dict needs the arrays; write with include_arrays=True")
        arrays = {name: _as_array(name, data["arrays"][name]) for name in _ARRAYS}
        targets = {name: TargetValues.from_dict(values) for name, values in data.get("targets", {}).items()}
        return cls(**arrays, targets=targets, metrics=data["metrics"], names=list(data["names"]), source=data.get("source"))

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> EvaluationResult:
        """Read a result written by `to_json` (a JSON string or a file path)."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))


def _as_array(name: str, values: list) -> np.ndarray:
    integer = name in ("energy_n_atoms", "forces_atomic_numbers")
    array = np.asarray(values, dtype=np.int64 if integer else np.float64)
    if name.startswith("forces_") and not integer:
        return array.reshape(-1, 3)
    if name.startswith("stress_"):
        return array.reshape(-1, 6)
    return array.reshape(-1)


def compute_metrics(result: EvaluationResult) -> dict[str, Any]:
    """Error metrics of ``result``'s arrays; errors in meV units (see `METRIC_UNITS`).

    Keys: when energies are labelled ``energy_per_atom_mae``/``_rmse`` (meV/atom) and
    ``n_energy_structures``; when forces are, ``forces_mae``/``_rmse`` (meV/Å, over all
    components), ``n_force_atoms`` and ``forces_by_element`` (symbol -> ``{"mae", "rmse",
    "n_atoms"}``); when stress is, ``stress_mae``/``_rmse`` (meV/Å³, over the 6 Voigt
    components) and ``n_stress_structures``; for each labelled output of a head,
    ``<name>_mae``/``_rmse`` (its unit) and ``n_<name>``. `evaluate_model` adds
    ``n_structures`` and ``n_atoms`` (the whole data set).
    """
    metrics: dict[str, Any] = {}
    if result.has_energy:
        errors = result.energy_per_atom_predicted - result.energy_per_atom_reference
        metrics.update(array_metrics("energy", errors))
        metrics["n_energy_structures"] = int(errors.shape[0])
    if result.has_forces:
        errors = result.forces_predicted - result.forces_reference
        metrics.update(array_metrics("forces", errors))
        metrics["n_force_atoms"] = int(errors.shape[0])
        by_element: dict[str, dict[str, float | int]] = {}
        for z in np.unique(result.forces_atomic_numbers):
            mask = result.forces_atomic_numbers == z
            mae, rmse = array_metrics("forces", errors[mask]).values()
            by_element[chemical_symbols[int(z)]] = {"mae": mae, "rmse": rmse, "n_atoms": int(mask.sum())}
        metrics["forces_by_element"] = by_element
    if result.has_stress:
        errors = result.stress_predicted - result.stress_reference
        metrics.update(array_metrics("stress", errors))
        metrics["n_stress_structures"] = int(result.stress_reference.shape[0])
    metrics.update(target_metrics(result.targets))
    return metrics


def target_metrics(targets: dict[str, TargetValues]) -> dict[str, Any]:
    """``<name>_mae``, ``<name>_rmse`` (over all components, in the target's unit) and
    ``n_<name>`` (labelled structures or atoms) for each target."""
    metrics: dict[str, Any] = {}
    for name, values in targets.items():
        metrics.update(array_metrics(name, values.predicted - values.reference))
        metrics[f"n_{name}"] = int(values.reference.shape[0])
    return metrics


def evaluate_model(
    model: Potential, dataset: GraphDataset, batch_size: int = 16, device: str | torch.device = "cpu"
) -> EvaluationResult:
    """Predict every structure of ``dataset`` with ``model`` (any `Potential`) and compare
    with its labels.

    The model runs in eval mode (a torch module's mode is restored afterwards) in its own dtype on ``device``;
    forces and stress come from one backward pass per batch without ``create_graph``, so
    no graph is kept between batches. Energies are compared per atom; structures without
    an energy, forces or stress label are left out of that quantity only. Outputs of the
    model's heads are compared where the data have labels of the same name (``targets``).

    Raises:
        ValueError: ``batch_size`` < 1, or the data set has no labels to compare with.
    """
    if batch_size < 1:
        raise ValueError(f"evaluate_model: batch_size must be at least 1, got {batch_size}")
    graphs = dataset.graphs
    labels = graph_labels(graphs)
    heads = labelled_targets(model, graphs)
    if not labels & {"energy", "forces", "stress"} and not heads:
        source = dataset.source or "the data"
        raise ValueError(
            f"{source}: no energy, forces or stress labels to compare with under the label keys used; "
            "name the keys the file stores them under (equipot evaluate --energy-key/--forces-key/"
            "--stress-key; data.keys.energy/forces/stress in a training config)"
        )
    outputs = outputs_for_labels(labels, heads)
    target_columns: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    dtype = model.dtype
    module = model if isinstance(model, nn.Module) else None
    was_training = module is not None and module.training
    if module is not None:
        module.eval()
    columns: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
    try:
        for start in range(0, len(graphs), batch_size):
            chunk = graphs[start : start + batch_size]
            batch = batch_graphs(chunk).to(device=device, dtype=dtype)
            prediction = model(batch, outputs=outputs, create_graph=False)
            _collect(columns, chunk, prediction, batch.batch.cpu().numpy())
            collect_target_values(target_columns, heads, chunk, prediction.extra, batch.batch.cpu().numpy())
    finally:
        if module is not None:
            module.train(was_training)
    arrays = {name: _concatenate(name, values) for name, values in columns.items()}
    targets = {
        name: TargetValues(np.concatenate(ref), np.concatenate(pred), heads[name].unit, heads[name].per_atom)
        for name, (ref, pred) in target_columns.items()
    }
    result = EvaluationResult(**arrays, targets=targets, names=list(dataset.names), source=dataset.source)
    result.metrics = {"n_structures": len(graphs), "n_atoms": int(sum(g.n_atoms for g in graphs)), **compute_metrics(result)}
    return result


def _collect(columns: dict[str, list[np.ndarray]], chunk: list, prediction: Any, batch_index: np.ndarray) -> None:
    """Append the labelled quantities of the structures in ``chunk`` to ``columns``."""
    energy = prediction.energy.detach().cpu().double().numpy()
    forces = None if prediction.forces is None else prediction.forces.detach().cpu().double().numpy()
    stress = None if prediction.stress is None else prediction.stress.detach().cpu().double().numpy()
    for index, graph in enumerate(chunk):
        n_atoms = graph.n_atoms
        if "energy" in graph.graph_targets:
            columns["energy_per_atom_reference"].append(graph.graph_targets["energy"].double().numpy() / n_atoms)
            columns["energy_per_atom_predicted"].append(energy[index : index + 1] / n_atoms)
            columns["energy_n_atoms"].append(np.array([n_atoms], dtype=np.int64))
        if "forces" in graph.atom_targets and forces is not None:
            columns["forces_reference"].append(graph.atom_targets["forces"].double().numpy())
            columns["forces_predicted"].append(forces[batch_index == index])
            columns["forces_atomic_numbers"].append(graph.atomic_numbers.numpy())
        if "stress" in graph.graph_targets and stress is not None and bool(graph.pbc.all()):
            columns["stress_reference"].append(voigt_from_matrix(graph.graph_targets["stress"].double().numpy()))
            columns["stress_predicted"].append(voigt_from_matrix(stress[index : index + 1]))


def _concatenate(name: str, values: list[np.ndarray]) -> np.ndarray:
    if values:
        return np.concatenate(values)
    return _as_array(name, [])


def evaluate_file(
    model_path: str | os.PathLike,
    data_path: str | os.PathLike,
    keys: LabelKeys | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    target_keys: dict[str, str] | None = None,
) -> EvaluationResult:
    """Load a model or committee file and a data file (extxyz, ase.db, ..., or ``"shipped:NAME"``, a
    shipped dataset as in a training config) and `evaluate_model`.

    Neighbor lists use the model's cutoff; labels are read where ``keys`` says (default
    `LabelKeys()`), those of the model's heads under their names or where ``target_keys``
    (head name -> key) says; ``dtype`` overrides the stored model dtype (e.g. ``torch.float64``).
    """
    model, dataset = load_evaluation_inputs(model_path, data_path, keys, device, dtype, target_keys)
    return evaluate_model(model, dataset, batch_size=batch_size, device=device)


def load_evaluation_inputs(
    model_path: str | os.PathLike,
    data_path: str | os.PathLike,
    keys: LabelKeys | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    target_keys: dict[str, str] | None = None,
) -> tuple[Potential, GraphDataset]:
    """The model (or committee) and the labelled dataset `evaluate_file` compares (see there)."""
    model = load_potential(model_path, device=device, dtype=dtype)
    model_dtype = model.dtype
    keys = keys or LabelKeys()
    specs = model.output_specs()
    head_keys = {name: (target_keys or {}).get(name, name) for name in specs}
    keys = LabelKeys(
        energy=keys.energy,
        forces=keys.forces,
        stress=keys.stress,
        graph_extra={**{n: k for n, k in head_keys.items() if not specs[n].per_atom}, **keys.graph_extra},
        atom_extra={**{n: k for n, k in head_keys.items() if specs[n].per_atom}, **keys.atom_extra},
    )
    data_path = resolve_data_path(str(data_path))
    dataset = GraphDataset.from_file(data_path, cutoff=model.cutoff, keys=keys, dtype=model_dtype)
    return model, dataset
