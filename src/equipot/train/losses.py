"""Loss: weighted energy-per-atom, force and stress errors, squared (MSE) or Huber.

For a batch, with ``d`` the prediction minus the label,

    loss = w_E mean_graphs p(dE / n_atoms) + w_F mean_components p(dF) + w_S mean_components p(dS)
           + sum_targets w_t mean_components p(d_t) + w_H mean_components p(d(H v))

where ``p(d) = d^2`` (mse) or the Huber function with threshold ``delta``; units: eV/atom,
eV/Å and eV/Å³ before squaring, and for further targets (outputs of model heads such as
``dipole``) the unit of the head (e·Å, Å³, ...). A term whose weight is 0 is left out, and
its label may be absent; a term with a positive weight whose label is absent is an error.

The Hessian (Sobolev) term compares Hessian-vector products ``H v`` (eV/Å² per unit of v)
with labels: each structure may carry K probe vectors ``hessian_probes`` [n_atoms, 3, K]
and their products ``hessian_products`` [n_atoms, 3, K] (atom targets, so batches
concatenate atoms and nothing is padded to 3N x 3N). Unit-vector probes make these
Hessian columns (all 3N of them: the full Hessian; a few: random rows), random vectors make
them plain products; random Gaussian combinations of the stored columns give one product
that carries information on all of them (`gaussian_probe_mixtures`). A probe column that
is zero in a structure is no label there (structures without Hessian labels carry zero
probes), so partial labels are allowed; see `hessian_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from ..data import AtomicGraph
from ..models import ModelOutput, hessian_vector_products

__all__ = [
    "HESSIAN_PRODUCTS",
    "HESSIAN_PROBES",
    "TERMS",
    "LossFunction",
    "LossWeights",
    "MissingTargetError",
    "forces_difference_products",
    "gaussian_probe_mixtures",
    "hessian_errors",
    "prediction_errors",
]

#: atom-target names of the Hessian labels: probe vectors v and products H v, [n_atoms, 3, K]
HESSIAN_PROBES, HESSIAN_PRODUCTS = "hessian_probes", "hessian_products"

#: loss terms, in the order used everywhere (metrics, sums)
TERMS = ("energy", "forces", "stress")


class MissingTargetError(ValueError):
    """A loss term has a positive weight but the batch has no label for it."""


@dataclass(frozen=True)
class LossWeights:
    """Weights of the energy-per-atom, force and stress terms, of further targets
    (outputs of model heads, by name) and of the Hessian-vector products (dimensionless)."""

    energy: float = 1.0
    forces: float = 10.0
    stress: float = 0.0
    targets: Mapping[str, float] = field(default_factory=dict)
    hessian: float = 0.0

    def __getitem__(self, term: str) -> float:
        if term in TERMS or term == "hessian":
            return float(getattr(self, term))
        return float(self.targets.get(term, 0.0))

    @property
    def terms(self) -> tuple[str, ...]:
        """Energy, forces, stress, then ``hessian`` if its weight is positive, then the further targets."""
        return TERMS + (("hessian",) if self.hessian > 0 else ()) + tuple(self.targets)

    def required_targets(self) -> list[str]:
        """The labels this loss needs: those of terms with a positive weight."""
        return [term for term in self.terms if self[term] > 0]

    def outputs(self) -> set[str]:
        """Model outputs needed to evaluate the loss (energy is always computed; the Hessian
        term needs forces, differentiated again by `hessian_errors`)."""
        needed = {term for term in self.terms if term not in ("energy", "hessian") and self[term] > 0}
        return {"energy"} | needed | ({"forces"} if self.hessian > 0 else set())


def prediction_errors(output: ModelOutput, graph: AtomicGraph) -> dict[str, Tensor]:
    """Prediction minus label for every term that has both.

    Returns ``energy`` [n_graphs] in eV/atom (per-atom energy error), ``forces``
    [n_atoms, 3] in eV/Å and ``stress`` [n_graphs, 3, 3] in eV/Å³, when present, and for
    every head output in ``output.extra`` with a label of the same name (in
    ``graph_targets`` or ``atom_targets``) its error in the head's shape and unit.
    """
    errors: dict[str, Tensor] = {}
    if "energy" in graph.graph_targets:
        n_atoms = graph.atoms_per_graph.clamp(min=1).to(output.energy.dtype)
        errors["energy"] = (output.energy - graph.graph_targets["energy"]) / n_atoms
    if "forces" in graph.atom_targets and output.forces is not None:
        errors["forces"] = output.forces - graph.atom_targets["forces"]
    if "stress" in graph.graph_targets and output.stress is not None:
        errors["stress"] = output.stress - graph.graph_targets["stress"]
    for name, predicted in output.extra.items():
        label = graph.graph_targets.get(name, graph.atom_targets.get(name))
        if label is None:
            continue
        if label.numel() != predicted.numel():
            raise ValueError(
                f"target {name!r}: the labels have shape {tuple(label.shape)} but the model predicts "
                f"{tuple(predicted.shape)}; check the label key and the head (per_atom, kind)"
            )
        errors[name] = predicted - label.reshape(predicted.shape)
    return errors


def hessian_errors(
    forces: Tensor,
    positions: Tensor,
    graph: AtomicGraph,
    create_graph: bool,
    n_probes: int | None = None,
    generator: torch.Generator | None = None,
    mix: Literal["columns", "gaussian"] = "columns",
    products_of: Callable[[Tensor], Tensor] | None = None,
) -> Tensor | None:
    """Errors of the Hessian-vector products, predicted minus label, for the labelled
    components only (1-D, eV/Å² per unit of v); None if ``graph`` has no Hessian labels.

    ``forces`` [n_atoms, 3] come from ``positions`` (which require grad) with the graph of
    their derivatives kept. ``n_probes``: use that many of the K probe columns, drawn at
    random (with ``generator``) for the whole batch (``None``: all), so that a file of full
    Hessians trains in the cheaper random-rows mode; with ``mix="gaussian"`` instead
    ``n_probes`` random combinations of all columns (`gaussian_probe_mixtures`). Probe
    columns that are zero in a structure (no label there) are left out. ``products_of``
    maps probes [n_atoms, 3, K] to products H v (e.g. `forces_difference_products`);
    None: exact products by a second backward pass through ``forces``.
    """
    probes = graph.atom_targets.get(HESSIAN_PROBES)
    labels = graph.atom_targets.get(HESSIAN_PRODUCTS)
    if probes is None or labels is None:
        return None
    if mix == "gaussian":
        probes, labels = gaussian_probe_mixtures(probes, labels, graph, n_probes or probes.shape[2], generator)
    elif n_probes is not None and n_probes < probes.shape[2]:
        columns = torch.randperm(probes.shape[2], generator=generator)[:n_probes].to(probes.device)
        probes, labels = probes[:, :, columns], labels[:, :, columns]
    norms = probes.new_zeros(graph.n_graphs, probes.shape[2]).index_add(0, graph.batch, probes.square().sum(1))
    labelled = (norms > 0)[graph.batch]  # [n_atoms, K]: the structure has this probe
    if not bool(labelled.any()):
        return forces.reshape(-1)[:0]  # empty, but in the graph: a loss of this term alone can backpropagate
    keep = labelled.any(0)  # skip the backward passes of columns no structure in the batch has
    probes, labels, labelled = probes[:, :, keep], labels[:, :, keep], labelled[:, keep]
    probes = probes.to(forces.dtype)
    if products_of is None:
        products = hessian_vector_products(forces, positions, probes, create_graph)
    else:
        products = products_of(probes)
    errors = products - labels.to(products.dtype)
    return errors.transpose(1, 2)[labelled].reshape(-1)  # [n_atoms, K, 3] -> labelled rows -> 1-D


def forces_difference_products(
    forces_at: Callable[[Tensor], Tensor], positions: Tensor, forces: Tensor, probes: Tensor, step: float
) -> Tensor:
    """Hessian-vector products [n_atoms, 3, K] by a one-sided difference of the forces:
    ``H v = (F(r) - F(r + h v)) / h`` (eV/Å² per unit of v), with ``forces`` [n_atoms, 3] =
    F(r) at ``positions`` and ``forces_at(displaced positions)`` the model's forces there.

    One force evaluation per probe instead of a second backward pass: when the products are
    trained on, the backward pass goes through two force graphs, not through a graph of
    second derivatives (~2x the work of a step without the term instead of ~3x). The error
    is of order ``h`` times the third derivative; ``h`` = 1e-3 Å keeps it ~1e-3 of H v in
    solids and molecules, and float64 or float32 forces keep their rounding below it.
    """
    products = [(forces - forces_at(positions + step * probes[:, :, k])) / step for k in range(probes.shape[2])]
    return torch.stack(products, dim=-1) if products else probes.new_zeros(probes.shape)


def gaussian_probe_mixtures(
    probes: Tensor, labels: Tensor, graph: AtomicGraph, n_mixtures: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``n_mixtures`` random combinations of each structure's K probe columns and of their
    labels, [n_atoms, 3, n_mixtures] each: H is linear, so ``H (sum_k g_k v_k) = sum_k g_k
    (H v)_k`` and one backward pass compares the model with every stored column at once.

    The weights g_k are drawn independently per structure from N(0, 1/K_s) over its K_s
    labelled (non-zero) columns, so that a mixture of orthonormal probes (unit columns of a
    full Hessian) has about unit norm; a structure without labels keeps zero probes.
    """
    n_graphs, n_columns = graph.n_graphs, probes.shape[2]
    norms = probes.new_zeros(n_graphs, n_columns).index_add(0, graph.batch, probes.square().sum(1))
    labelled = (norms > 0).to(probes.dtype)  # [n_graphs, K]
    counts = labelled.sum(1).clamp(min=1)
    weights = torch.randn(n_graphs, n_columns, n_mixtures, generator=generator, dtype=probes.dtype)
    weights = (weights.to(probes.device) * labelled[:, :, None] / counts.sqrt()[:, None, None])[graph.batch]
    return torch.einsum("ack,akm->acm", probes, weights), torch.einsum("ack,akm->acm", labels.to(probes.dtype), weights)


class LossFunction:
    """Weighted sum of per-term mean penalties (see the module docstring).

    >>> loss = LossFunction("huber", delta=0.01)
    >>> float(loss.penalty(torch.tensor([0.0, 0.02])).sum())  # 0 + 0.01 * (0.02 - 0.005)
    0.00015
    """

    def __init__(self, kind: Literal["mse", "huber"] = "mse", delta: float = 0.01):
        if kind not in ("mse", "huber"):
            raise ValueError(f"loss kind must be 'mse' or 'huber', got {kind!r}")
        self.kind = kind
        self.delta = float(delta)

    def penalty(self, error: Tensor) -> Tensor:
        """Element-wise penalty of ``error`` (same shape)."""
        if self.kind == "mse":
            return error.square()
        return torch.nn.functional.huber_loss(error, torch.zeros_like(error), reduction="none", delta=self.delta)

    def terms(self, errors: dict[str, Tensor]) -> dict[str, tuple[Tensor, int]]:
        """``(sum of penalties, number of components)`` per term present in ``errors``."""
        return {term: (self.penalty(error).sum(), error.numel()) for term, error in errors.items()}

    def __call__(self, errors: dict[str, Tensor], weights: LossWeights) -> Tensor:
        """The weighted loss of one batch; raises `MissingTargetError` for a needed, absent label."""
        total: Tensor | None = None
        for term in weights.required_targets():
            if term not in errors:
                raise MissingTargetError(
                    f"the loss has {term} weight {weights[term]} but the batch has no {term} labels "
                    f"(or the model did not compute {term}); set the {term} weight to 0 or provide {term}"
                )
            penalty_sum, count = self.terms({term: errors[term]})[term]
            value = weights[term] * penalty_sum / max(count, 1)
            total = value if total is None else total + value
        assert total is not None, "LossWeights with all weights 0"
        return total
