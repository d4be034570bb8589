"""`UncertaintyPotential`: a model plus its single-model uncertainty estimators, itself a
`Potential`.

It returns the wrapped model's energy, derivatives and heads, and in ``extra`` (declared
in ``output_specs()``, so the ASE calculator exposes them by name):

| output | shape | unit | from |
| --- | --- | --- | --- |
| ``energy_std`` | [n_graphs] | eV | `LastLayerUncertainty` |
| ``forces_std`` | [n_atoms] | eV/Å | `LastLayerUncertainty`: local estimate (atom-level last-layer variance) |
| ``forces_std_exact`` | [n_atoms] | eV/Å | `LastLayerUncertainty`: variance of the force (norm of the per-component std) |
| ``descriptor_distance`` | [n_atoms] | feature units | `DescriptorDistances` (nearest training atom) |
| ``mahalanobis_distance`` | [n_atoms] | dimensionless | `DescriptorDistances` |
| ``max_descriptor_distance``, ``max_mahalanobis_distance`` | [n_graphs] | as above | max over a structure's atoms |
| ``extrapolating`` | [n_graphs] | 1.0 / 0.0 | max descriptor distance above the stored threshold |

Everything comes from the same forward pass as the energy; ``forces_std_exact`` adds one
batched backward call (about ``force_rank`` backward passes; see `equipot.uq.last_layer`)
and is computed by the calculator only when asked for by name.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..data import AtomicGraph
from ..models import EquivariantPotential, ModelOutput
from ..models.derivatives import derive_outputs
from ..models.heads import OutputSpec
from ..models.output import OUTPUT_NAMES
from ..models.potential import check_graph_cutoff
from ..models.protocol import WrapsPotential
from .descriptors import DescriptorDistances
from .features import model_features
from .last_layer import LastLayerUncertainty

__all__ = ["UncertaintyPotential"]

_LAST_LAYER_OUTPUTS = {
    "energy_std": OutputSpec("energy_std", per_atom=False, irreps="0e", unit="eV"),
    "forces_std": OutputSpec("forces_std", per_atom=True, irreps="0e", unit="eV/Å"),
    # the exact force variance: a Jacobian of the last-layer features, several times the cost
    # of the forces (benchmarks/README.md), so the calculator computes it only when asked
    "forces_std_exact": OutputSpec("forces_std_exact", per_atom=True, irreps="0e", unit="eV/Å", on_request=True),
}
_DESCRIPTOR_OUTPUTS = {
    "descriptor_distance": OutputSpec("descriptor_distance", per_atom=True, irreps="0e"),
    "mahalanobis_distance": OutputSpec("mahalanobis_distance", per_atom=True, irreps="0e"),
    "max_descriptor_distance": OutputSpec("max_descriptor_distance", per_atom=False, irreps="0e"),
    "max_mahalanobis_distance": OutputSpec("max_mahalanobis_distance", per_atom=False, irreps="0e"),
    "extrapolating": OutputSpec("extrapolating", per_atom=False, irreps="0e"),
}


def _structure_max(values: Tensor, graph: AtomicGraph) -> Tensor:
    result = values.new_zeros(graph.cell.shape[0])
    return result.scatter_reduce(0, graph.batch, values, reduce="amax", include_self=False)


class UncertaintyPotential(WrapsPotential, nn.Module):
    """``model`` with a `LastLayerUncertainty` and/or a `DescriptorDistances` (at least one).

        >>> uq = UncertaintyPotential(model, fit_last_layer_uncertainty(model, train, valid),
        ...                           fit_descriptor_distances(model, train))   # doctest: +SKIP
        >>> out = uq(graph, outputs={"energy", "forces", "energy_std", "forces_std"})  # doctest: +SKIP
        >>> exact = uq(graph, outputs={"forces_std_exact"})  # doctest: +SKIP

    Save it with `equipot.uq.save_uncertainty_model`; `equipot.uq.load_potential` (and
    ``EquipotCalculator.from_file``) bring it back."""

    def __init__(
        self,
        model: EquivariantPotential,
        last_layer: LastLayerUncertainty | None = None,
        descriptors: DescriptorDistances | None = None,
    ):
        super().__init__()
        if not isinstance(model, EquivariantPotential):
            raise TypeError(f"UncertaintyPotential wraps an EquivariantPotential, got {type(model).__name__}")
        if last_layer is None and descriptors is None:
            raise ValueError("UncertaintyPotential needs a last_layer estimator, descriptors, or both; got neither")
        width = sum(readout.last_layer_weight.numel() for readout in model.readouts)
        if last_layer is not None and last_layer.width != width:
            raise ValueError(
                f"the last-layer estimator has K={last_layer.width} features but the model has {width}; "
                "fit it on this model (equipot uncertainty fit)"
            )
        if descriptors is not None and descriptors.reference.shape[1] != model.layout_node.channels:
            raise ValueError(
                f"the descriptor statistics have {descriptors.reference.shape[1]} channels but the model has "
                f"{model.layout_node.channels}; fit them on this model (equipot uncertainty fit)"
            )
        self.model = model
        self.last_layer = last_layer.to(device=model.device, dtype=model.dtype) if last_layer is not None else None
        self.descriptors = descriptors.to(device=model.device, dtype=model.dtype) if descriptors is not None else None
        self._specs = dict(model.output_specs())
        if last_layer is not None:
            self._specs.update(_LAST_LAYER_OUTPUTS)
        if descriptors is not None:
            self._specs.update(_DESCRIPTOR_OUTPUTS)

    @property
    def metadata(self) -> dict:
        return getattr(self.model, "metadata", {})

    def output_specs(self) -> dict[str, OutputSpec]:
        return dict(self._specs)

    def converted(self, dtype: torch.dtype) -> UncertaintyPotential:
        """A copy in ``dtype`` (the model's `converted` and the estimators cast)."""
        last_layer = self.last_layer.converted(dtype) if self.last_layer is not None else None
        descriptors = self.descriptors.converted(dtype) if self.descriptors is not None else None
        return UncertaintyPotential(self.model.converted(dtype), last_layer, descriptors)

    def forward(
        self, graph: AtomicGraph, outputs: Iterable[str] = ("energy", "forces"), create_graph: bool | None = None
    ) -> ModelOutput:
        """The model's outputs named in ``outputs`` plus the uncertainty outputs named there
        (module docstring); ``create_graph`` as for the model."""
        outputs = frozenset(outputs)
        extra_names = outputs - OUTPUT_NAMES
        unknown = sorted(extra_names - set(self._specs))
        if unknown:
            raise ValueError(f"unknown outputs {unknown}; this potential computes {sorted(OUTPUT_NAMES)} and {sorted(self._specs)}")
        check_graph_cutoff(graph.cutoff, self.model.cutoff)
        create_graph = self.training if create_graph is None else create_graph
        if graph.dtype != self.dtype:
            graph = graph.to(dtype=self.dtype)
        head_names = extra_names & set(self.model.output_specs())
        want_exact = "forces_std_exact" in outputs
        derived = (outputs & OUTPUT_NAMES) | ({"forces"} if want_exact else set())
        extra: dict[str, Tensor] = {}

        def energies(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
            features = model_features(self.model, graph, positions, cell, first_order_only=not (create_graph or want_exact))
            if head_names:
                assert self.model.heads is not None
                extra.update(self.model.heads(features.node_features, graph, positions, head_names))
            self._uncertainties(graph, positions, features, extra_names, create_graph, extra)
            return features.atomic_energies

        result = derive_outputs(energies, graph, derived, create_graph)
        if want_exact and "forces" not in outputs:
            result.forces = None
        result.extra.update(extra if create_graph else {name: value.detach() for name, value in extra.items()})
        return result

    def _uncertainties(self, graph, positions, features, names: frozenset[str], create_graph: bool, extra: dict) -> None:
        if self.last_layer is not None and names & set(_LAST_LAYER_OUTPUTS):
            summed = features.last_layer.new_zeros(graph.cell.shape[0], features.last_layer.shape[1])
            summed = summed.index_add(0, graph.batch, features.last_layer)
            if "energy_std" in names:
                extra["energy_std"] = self.last_layer.energy_std(summed)
            if "forces_std" in names:
                extra["forces_std"] = self.last_layer.forces_std_local(features.last_layer)
            if "forces_std_exact" in names:
                extra["forces_std_exact"] = self.last_layer.forces_std_exact(summed, positions, create_graph)
        if self.descriptors is not None and names & set(_DESCRIPTOR_OUTPUTS):
            descriptors = features.descriptors if create_graph else features.descriptors.detach()
            nearest = self.descriptors.nearest(descriptors)
            mahalanobis = self.descriptors.mahalanobis(descriptors, self.model.species_of(graph))
            largest = _structure_max(nearest, graph)
            values = {
                "descriptor_distance": nearest,
                "mahalanobis_distance": mahalanobis,
                "max_descriptor_distance": largest,
                "max_mahalanobis_distance": _structure_max(mahalanobis, graph),
                "extrapolating": (largest > self.descriptors.nearest_threshold).to(nearest.dtype),
            }
            extra.update({name: value for name, value in values.items() if name in names})

    def uncertainty_state(self) -> dict[str, object]:
        """Plain data of the estimators, for the model file."""
        state: dict[str, object] = {"format_version": 2}  # 2: atom_covariance_inverse (the local forces_std)
        if self.last_layer is not None:
            state["last_layer"] = self.last_layer.state()
        if self.descriptors is not None:
            state["descriptors"] = self.descriptors.state()
        return state

    @classmethod
    def from_state(cls, model: EquivariantPotential, state: dict) -> UncertaintyPotential:
        last_layer = LastLayerUncertainty.from_state(state["last_layer"]) if "last_layer" in state else None
        descriptors = DescriptorDistances.from_state(state["descriptors"]) if "descriptors" in state else None
        return cls(model, last_layer, descriptors)
