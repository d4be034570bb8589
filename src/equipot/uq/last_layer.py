"""Single-model predictive variance: last-layer prediction rigidity (LLPR).

The energy of a structure is linear in the model's last-layer weights ``w`` [K]:
``E_s = F_s . w + const``, with ``F_s = sum_{i in s} phi_i`` the summed last-layer
features (`equipot.uq.features`). Treating ``w`` as Gaussian around its trained value
with covariance ``alpha^2 C^-1`` (a last-layer Laplace approximation, Bigi et al.,
"A prediction rigidity formalism for low-cost uncertainties in trained neural networks",
2024), where

    C = sum_{train s} F_s F_s^T + lambda I                                  [K, K]

gives, in the same pass as the energy,

    sigma_E(s)^2 = alpha_E^2  F_s^T C^-1 F_s                                 (eV^2)

Two force uncertainties per atom j (eV/Å), each with its own calibration:

- ``forces_std`` (the default; `LastLayerUncertainty.forces_std_local`), the local
  estimate, free in the forward pass: the last-layer variance of atom j's own energy
  with the covariance of the training set's *atoms*,

      A = sum_{train atoms i} phi_i phi_i^T + lambda_A I,   sigma_F(j)^2 = alpha_F^2 phi_j^T A^-1 phi_j

  (the leverage of atom j's environment in the space that sets the energies). ``C`` of
  structure sums cannot serve here: a training set of one composition (ethanol) never
  varies the differences between elements' features, so ``phi_j^T C^-1 phi_j`` grows in
  those unpinned directions and ranks atoms by element, not by their errors;
- ``forces_std_exact`` (`LastLayerUncertainty.forces_std_exact`), the variance of the
  force itself, ``sigma_F(j)^2 = alpha_Fx^2 sum_a J_ja^T C^-1 J_ja`` with
  ``J_ja = dF_s / dr_ja``, the norm over x, y, z of the per-component standard
  deviations. With ``C^-1 = V diag(mu) V^T`` it is ``sum_k mu_k |d(F_s . v_k)/dr_j|^2``,
  over the ``force_rank`` eigenvectors of largest ``mu`` (the directions the training set
  pins down least), one vector-Jacobian product each, batched into one backward call:
  about ``force_rank`` backward passes, exact with ``force_rank = K`` (the default), a
  cheaper lower bound with fewer.

docs/uncertainty.md compares the two (cost and how well they rank the force errors).

Calibration (`fit_last_layer_uncertainty`): ``lambda`` is chosen from a grid
(``10^-8 .. 1`` times ``trace(sum F F^T) / K``) by the Gaussian negative log-likelihood
of the calibration energies; for each ``lambda``, and then for each force estimate,
``alpha`` is set so that ``mean(error^2 / sigma^2) = 1`` over the calibration set
(energies per structure; forces per atom, ``|F_j - F_j^ref|^2 / sigma_F(j)^2``).
``lambda_A`` is chosen on the same grid (times ``trace(A) / K``) by the Gaussian NLL of
the calibration force errors per atom (with ``alpha_F`` set by the same rule at each
value); without force labels it gets the relative size of ``lambda`` and ``alpha_F = 1``.
The calibration set is the validation data when given, else the training data
(in-sample: over-confident).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import AtomicGraph, batch_graphs
from ..models import EquivariantPotential
from .features import model_features

__all__ = [
    "LastLayerUncertainty",
    "calibration_scale",
    "fit_last_layer_uncertainty",
    "structure_features",
]

_LAMBDA_GRID = tuple(10.0**exponent for exponent in range(-8, 1))


class LastLayerUncertainty(nn.Module):
    """The fitted LLPR estimator (see the module docstring): ``covariance_inverse``
    ``C^-1`` [K, K] of structure sums, ``atom_covariance_inverse`` ``A^-1`` [K, K] of
    atoms (None: the identity) and the calibration factors (``alpha_energy``;
    ``alpha_forces`` of the local ``forces_std``; ``alpha_forces_exact`` of
    ``forces_std_exact``), as buffers; ``state()`` is plain data for the model file."""

    def __init__(
        self,
        covariance_inverse: Tensor,
        atom_covariance_inverse: Tensor | None = None,
        alpha_energy: float = 1.0,
        alpha_forces: float = 1.0,
        alpha_forces_exact: float = 1.0,
        force_rank: int | None = None,
        regularization: float = 0.0,
        calibration: str = "none",
        atom_regularization: float = 0.0,
    ):
        super().__init__()
        size = covariance_inverse.shape[0]
        if covariance_inverse.shape != (size, size):
            raise ValueError(f"covariance_inverse must be square [K, K], got {tuple(covariance_inverse.shape)}")
        rank = size if force_rank is None else int(force_rank)
        if not 1 <= rank <= size:
            raise ValueError(f"force_rank must be between 1 and K={size}, got {rank}")
        dtype = covariance_inverse.dtype
        atoms = torch.eye(size, dtype=dtype) if atom_covariance_inverse is None else atom_covariance_inverse
        if atoms.shape != (size, size):
            raise ValueError(f"atom_covariance_inverse must be [K, K] = [{size}, {size}], got {tuple(atoms.shape)}")
        self.register_buffer("covariance_inverse", covariance_inverse.clone())
        self.register_buffer("atom_covariance_inverse", atoms.to(dtype=dtype, device=covariance_inverse.device).clone())
        self.register_buffer("alpha_energy", torch.tensor(float(alpha_energy), dtype=dtype))
        self.register_buffer("alpha_forces", torch.tensor(float(alpha_forces), dtype=dtype))
        self.register_buffer("alpha_forces_exact", torch.tensor(float(alpha_forces_exact), dtype=dtype))
        mu, vectors = torch.linalg.eigh(covariance_inverse.double())
        top = torch.argsort(mu, descending=True)[:rank]
        projection = vectors[:, top] * mu[top].clamp(min=0).sqrt()
        self.register_buffer("force_projection", projection.to(dtype))  # [K, rank]
        self.regularization = float(regularization)
        self.atom_regularization = float(atom_regularization)
        self.calibration = calibration

    @property
    def width(self) -> int:
        """K, the number of last-layer features."""
        return int(self.covariance_inverse.shape[0])

    @staticmethod
    def _variance(features: Tensor, inverse: Tensor) -> Tensor:
        return ((features @ inverse) * features).sum(-1).clamp(min=0)

    def energy_std(self, structure_features: Tensor) -> Tensor:
        """[n_graphs] sigma_E (eV) from summed last-layer features [n_graphs, K]."""
        return self.alpha_energy * self._variance(structure_features, self.covariance_inverse).sqrt()

    def forces_std_local(self, atom_features: Tensor) -> Tensor:
        """[n_atoms] the local sigma_F (eV/Å) from the per-atom last-layer features
        ``phi`` [n_atoms, K] (module docstring): no derivative, no neighbours."""
        return self.alpha_forces * self._variance(atom_features, self.atom_covariance_inverse).sqrt()

    def forces_std_exact(self, structure_features: Tensor, positions: Tensor, create_graph: bool = False) -> Tensor:
        """[n_atoms] the exact (``force_rank`` = K) sigma_F (eV/Å): ``structure_features``
        [n_graphs, K] must be a function of ``positions`` [n_atoms, 3] in the autograd graph
        (which is kept)."""
        projected = (structure_features @ self.force_projection).sum(0)  # [rank]; atoms see only their structure
        basis = torch.eye(projected.shape[0], dtype=projected.dtype, device=projected.device)
        (jacobian,) = torch.autograd.grad(
            projected, positions, basis, retain_graph=True, create_graph=create_graph, is_grads_batched=True
        )  # [rank, n_atoms, 3]
        return self.alpha_forces_exact * jacobian.square().sum((0, 2)).sqrt()

    def converted(self, dtype: torch.dtype) -> LastLayerUncertainty:
        state = self.state()
        inverses = {name: state[name].to(dtype) for name in ("covariance_inverse", "atom_covariance_inverse")}  # type: ignore[union-attr]
        return LastLayerUncertainty.from_state({**state, **inverses})

    def state(self) -> dict[str, object]:
        """Plain data (a tensor and numbers) for the model file."""
        return {
            "covariance_inverse": self.covariance_inverse.detach().cpu(),
            "atom_covariance_inverse": self.atom_covariance_inverse.detach().cpu(),
            "alpha_energy": float(self.alpha_energy),
            "alpha_forces": float(self.alpha_forces),
            "alpha_forces_exact": float(self.alpha_forces_exact),
            "force_rank": int(self.force_projection.shape[1]),
            "regularization": self.regularization,
            "atom_regularization": self.atom_regularization,
            "calibration": self.calibration,
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> LastLayerUncertainty:
        if "atom_covariance_inverse" not in state:
            raise ValueError(
                "its last-layer estimator was fitted before the local forces_std existed (no atom_covariance_inverse); "
                "fit it again with `equipot uncertainty fit`"
            )
        return cls(**state)  # type: ignore[arg-type]


def structure_features(model: EquivariantPotential, graph: AtomicGraph, positions: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Atomic energies [n_atoms] (eV) and summed last-layer features ``F_s`` [n_graphs, K]
    of ``graph`` (at ``positions`` if given: pass a tensor that requires grad for forces)."""
    positions = graph.positions if positions is None else positions
    features = model_features(model, graph, positions, graph.cell)
    summed = features.last_layer.new_zeros(graph.n_graphs, features.last_layer.shape[1])
    return features.atomic_energies, summed.index_add(0, graph.batch, features.last_layer)


def _batches(model: EquivariantPotential, graphs: Sequence[AtomicGraph], batch_size: int):
    for start in range(0, len(graphs), batch_size):
        yield batch_graphs(list(graphs[start : start + batch_size])).to(device=model.device, dtype=model.dtype)


@dataclass
class _Calibration:
    """What one pass over the calibration set gives: squared energy errors and summed
    features per structure; with force labels, squared force errors ``|F_j - F_j^ref|^2``,
    the exact force variances (alpha = 1) and the last-layer features, per atom."""

    energy_errors: Tensor  # [n_graphs]
    structure_features: Tensor  # [n_graphs, K]
    force_errors: Tensor  # [n_atoms]
    exact_variances: Tensor  # [n_atoms]
    atom_features: Tensor  # [n_atoms, K]


def _calibration_pass(
    model: EquivariantPotential,
    estimator: LastLayerUncertainty,
    graphs: Sequence[AtomicGraph],
    batch_size: int,
    with_forces: bool,
) -> _Calibration:
    energy_errors, energy_features, force_errors, exact, atom_features = [], [], [], [], []
    for graph in _batches(model, graphs, batch_size):
        if "energy" not in graph.graph_targets:
            raise ValueError("calibrating the last-layer variance needs reference energies in the data (energy labels)")
        forces_wanted = with_forces and "forces" in graph.atom_targets
        with torch.enable_grad():
            positions = graph.positions.detach().requires_grad_(True)
            energies, summed = structure_features(model, graph, positions)
            energy = energies.new_zeros(graph.n_graphs).index_add(0, graph.batch, energies)
            if forces_wanted:
                sigma_exact = estimator.forces_std_exact(summed, positions) / estimator.alpha_forces_exact
                (gradient,) = torch.autograd.grad(energy.sum(), positions)
        energy_errors.append((energy.detach() - graph.graph_targets["energy"]).double().square())
        energy_features.append(summed.detach().double())
        if forces_wanted:
            force_errors.append((-gradient - graph.atom_targets["forces"]).double().square().sum(-1))
            exact.append(sigma_exact.detach().double().square())
            with torch.no_grad():
                atom_features.append(model_features(model, graph, graph.positions, graph.cell, True).last_layer.double())
    width = estimator.width
    empty = torch.empty(0, dtype=torch.float64)
    return _Calibration(
        torch.cat(energy_errors),
        torch.cat(energy_features),
        torch.cat(force_errors) if force_errors else empty,
        torch.cat(exact) if exact else empty,
        torch.cat(atom_features) if atom_features else empty.reshape(0, width),
    )


def calibration_scale(squared_errors: Tensor, variances: Tensor) -> float:
    """The calibration rule: the factor ``alpha`` that makes ``mean(error^2 / (alpha sigma)^2) = 1``,
    i.e. ``sqrt(mean(error^2 / sigma^2))``, over the entries with ``sigma^2 > 0``.

    ``squared_errors`` and ``variances`` (``sigma^2``) are [n] in matching units (e.g. eV^2
    per structure, or ``|dF|^2`` and the summed component variances per atom); 1.0 if no
    entry has a positive variance. Used by the last-layer estimator and `calibrate_committee`.
    """
    keep = variances > 0
    if not bool(keep.any()):
        return 1.0
    return math.sqrt(float((squared_errors[keep].double() / variances[keep].double()).mean()))


def _choose_regularization(train_gram: Tensor, errors: Tensor, features: Tensor) -> tuple[float, float]:
    """(lambda, alpha_E) minimising the Gaussian NLL of ``errors`` (squared, [n]) with
    alpha_E from ``mean(error^2 / sigma^2) = 1`` at each lambda of the grid."""
    eigenvalues, vectors = torch.linalg.eigh(train_gram)
    projected = (features @ vectors).square()  # [n, K]
    unit = float(train_gram.diagonal().mean())
    best = (math.inf, 0.0, 1.0)
    for relative in _LAMBDA_GRID:
        lam = relative * unit
        variance = (projected / (eigenvalues.clamp(min=0) + lam)).sum(-1).clamp(min=1e-300)
        alpha2 = calibration_scale(errors, variance) ** 2
        nll = float(0.5 * torch.log(2 * math.pi * alpha2 * variance).mean()) + 0.5
        if nll < best[0]:
            best = (nll, lam, math.sqrt(alpha2))
    return best[1], best[2]


def fit_last_layer_uncertainty(
    model: EquivariantPotential,
    train: Sequence[AtomicGraph],
    valid: Sequence[AtomicGraph] | None = None,
    force_rank: int | None = None,
    batch_size: int = 16,
) -> LastLayerUncertainty:
    """Fit the LLPR estimator of ``model`` on ``train`` (one pass) and calibrate it on
    ``valid`` (or on ``train`` if None); see the module docstring for the rules.

    ``train`` and ``valid`` are sequences of graphs (a `GraphDataset` works) with energy
    labels; force labels (if present) calibrate the factors of both force estimates.
    ``force_rank``: eigen-directions of ``C^-1`` used for ``forces_std_exact`` (None: all
    K, exact)."""
    if len(train) == 0:
        raise ValueError("fit_last_layer_uncertainty needs training structures, got none")
    model = model.eval()
    width = int(sum(readout.last_layer_weight.numel() for readout in model.readouts))
    gram = torch.zeros(width, width, dtype=torch.float64, device=model.device)
    atom_gram = torch.zeros_like(gram)  # A without lambda_A: sum over training atoms
    with torch.no_grad():
        for graph in _batches(model, train, batch_size):
            features = model_features(model, graph, graph.positions, graph.cell, first_order_only=True)
            atoms = features.last_layer.double()
            summed = atoms.new_zeros(graph.n_graphs, width).index_add(0, graph.batch, atoms)
            gram += summed.T @ summed
            atom_gram += atoms.T @ atoms
    calibration_set = valid if valid is not None and len(valid) > 0 else train
    where = f"validation ({len(calibration_set)} structures)" if calibration_set is valid else f"training ({len(train)} structures, in-sample)"
    uncalibrated = LastLayerUncertainty(torch.eye(width, dtype=model.dtype, device=model.device), force_rank=force_rank)
    with torch.no_grad():
        energy_pass = _calibration_pass(model, uncalibrated, calibration_set, batch_size, False)
    lam, alpha_energy = _choose_regularization(gram, energy_pass.energy_errors, energy_pass.structure_features)
    identity = torch.eye(width, dtype=torch.float64, device=gram.device)
    inverse = torch.linalg.inv(gram + lam * identity)
    estimator = LastLayerUncertainty(inverse.to(model.dtype), alpha_energy=alpha_energy, force_rank=force_rank,
                                     regularization=lam, calibration=where)
    force_pass = _calibration_pass(model, estimator, calibration_set, batch_size, True)
    if len(force_pass.force_errors):
        lam_atoms, alpha_forces = _choose_regularization(atom_gram, force_pass.force_errors, force_pass.atom_features)
        estimator.alpha_forces.fill_(alpha_forces)
        estimator.alpha_forces_exact.fill_(calibration_scale(force_pass.force_errors, force_pass.exact_variances))
    else:  # no force labels: lambda's relative size, alpha_F = 1 (uncalibrated)
        lam_atoms = lam / float(gram.diagonal().mean()) * float(atom_gram.diagonal().mean())
    estimator.atom_covariance_inverse.copy_(torch.linalg.inv(atom_gram + lam_atoms * identity))
    estimator.atom_regularization = lam_atoms
    return estimator.to(device=model.device)
