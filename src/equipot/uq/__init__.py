"""Knowing when the model does not know: uncertainty estimates and invariant features.

- `Committee`, `save_committee`, `load_committee`: committees of models (spread of the
  members' predictions); `calibrate_committee` scales the spreads on validation data;
- `LastLayerUncertainty` / `fit_last_layer_uncertainty`: single-model last-layer
  prediction rigidity (``energy_std``, ``forces_std``);
- `DescriptorDistances` / `fit_descriptor_distances`: nearest-neighbour and Mahalanobis
  distances of atomic environments to the training set, and the ``extrapolating`` flag;
- `UncertaintyPotential`: a model with those estimators, itself a `Potential`;
  `save_uncertainty_model` / `load_uncertainty_model` keep them in the model file
  (`equipot.load_potential` reads every kind of file: models, hybrids, committees);
- `invariant_features`: per-atom and per-structure invariant features for downstream ML.

See docs/uncertainty.md.
"""

from .committee import CALIBRATED_OUTPUTS, STD_OUTPUTS, Committee, calibrate_committee
from .committee_file import COMMITTEE_FORMAT, committee_from_payload, load_committee, save_committee
from .descriptors import DescriptorDistances, fit_descriptor_distances, nearest_distances
from .features import invariant_features, model_features
from .io import load_uncertainty_model, save_uncertainty_model, with_uncertainty
from .last_layer import LastLayerUncertainty, fit_last_layer_uncertainty
from .potential import UncertaintyPotential

__all__ = [
    "CALIBRATED_OUTPUTS",
    "COMMITTEE_FORMAT",
    "STD_OUTPUTS",
    "Committee",
    "calibrate_committee",
    "DescriptorDistances",
    "LastLayerUncertainty",
    "UncertaintyPotential",
    "committee_from_payload",
    "fit_descriptor_distances",
    "fit_last_layer_uncertainty",
    "invariant_features",
    "load_committee",
    "load_uncertainty_model",
    "model_features",
    "nearest_distances",
    "save_committee",
    "save_uncertainty_model",
    "with_uncertainty",
]
